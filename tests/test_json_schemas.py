"""The JSON outputs against their published schemas (vaecollapse/schemas/NAME.schema.json).

Real documents written by `predict`, `diagnose` (and `train`'s diagnostics.json), `advise` and
`reproduce` on small data validate against their schema and carry the package and schema
versions; the same documents with a key removed, renamed or of the wrong type do not.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import jsonschema
import pytest
from typer.testing import CliRunner

from vaecollapse import __version__
from vaecollapse.cli import app
from vaecollapse.experiments import REGISTRY, run_experiment
from vaecollapse.files.versioning import OUTPUT_SCHEMA_VERSION
from vaecollapse.output.documents import SCHEMAS, json_schema
from vaecollapse.output.experiment_figures import draw

runner = CliRunner()
SYNTH = "synthetic:corr=gaussian-0.5,n=200,dim=8"
TRAIN = ["--data", SYNTH, "--latent-dim", "2", "--hidden", "8", "--batch-size", "64",
         "--device", "cpu", "--epochs", "1"]


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)  # a valid draft 2020-12 schema
    return jsonschema.Draft202012Validator(schema)


def errors(name: str, document) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(name).iter_errors(document)]


def written(path, *args, exit_code: int = 0):
    """Run the CLI with ``--json path`` and return the document it wrote."""
    result = runner.invoke(app, [*map(str, args), "--json", str(path)])
    assert result.exit_code == exit_code, result.output
    return json.loads(path.read_text())


PREDICT = {
    "vae learnable": ["--data", SYNTH, "--latent-dim", "3"],
    "vae fixed sigma": ["--data", SYNTH, "--latent-dim", "3", "--sigma", "0.5,1,2"],
    "cvae": ["--model", "cvae", "--data", SYNTH, "--latent-dim", "3", "--beta", "0.5"],
    "mhvae theorem 3": ["--model", "mhvae", "--data", SYNTH, "--latent-dim", "3", "--sigma1", "0.5"],
    "mhvae theorem 5": ["--model", "mhvae", "--data", SYNTH, "--latent-dim", "3", "--sigma1", "0.5",
                        "--sigma2", "1"],
    "mhvae numerical": ["--model", "mhvae", "--data", SYNTH, "--latent-dim", "2", "--levels", "3",
                        "--inference", "ladder", "--sigmas", "0.5,learn,learn"],
    "sweep": ["--data", SYNTH, "--latent-dim", "3", "--sweep", "beta=0.1:10:4:log"],
    "sweep with an unbounded point": ["--model", "mhvae", "--data", SYNTH, "--latent-dim", "2",
                                      "--sweep", "beta1=0.5,2"],
}


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict[str, dict[str, object]]:
    """Real outputs of every command, by schema name and case."""
    tmp = tmp_path_factory.mktemp("json")
    docs: dict[str, dict[str, object]] = {name: {} for name in SCHEMAS}
    for i, (case, args) in enumerate(PREDICT.items()):
        docs["predict"][case] = written(tmp / f"predict{i}.json", "predict", *args)
    docs["predict"]["unbounded"] = written(
        tmp / "unbounded.json", "predict", "--model", "mhvae", "--data", SYNTH, "--latent-dim", "2",
        "--beta1", "2", exit_code=2)

    for family, extra in (("vae", ["--backbone", "linear"]),
                          ("mhvae", ["--backbone", "mlp", "--sigma1", "0.5"])):
        run = tmp / f"run-{family}"
        result = runner.invoke(app, ["train", "--model", family, *extra, *TRAIN, "--out", str(run)])
        assert result.exit_code == 0, result.output
        docs["diagnose"][f"{family} diagnose --json"] = written(
            tmp / f"diagnose-{family}.json", "diagnose", run, "--points", "100", "--is-samples", "5")
        docs["diagnose"][f"{family} diagnostics.json"] = json.loads(
            (run / "diagnostics.json").read_text())

    advise = {"vae": ["--data", SYNTH, "--latent-dim", "3", "--keep", "2"],
              "cvae fixed sigma": ["--model", "cvae", "--data", SYNTH, "--latent-dim", "3",
                                   "--keep", "2", "--sigma", "0.5,1,1"],
              "mhvae theorem 3": ["--model", "mhvae", "--data", SYNTH, "--latent-dim", "3",
                                  "--keep", "2", "--sigma1", "0.5"],
              "mhvae no lever": ["--model", "mhvae", "--data", SYNTH, "--latent-dim", "3",
                                 "--keep", "2", "--sigma1", "0.5", "--sigma2", "0.7"]}
    for i, (case, args) in enumerate(advise.items()):
        docs["advise"][case] = written(tmp / f"advise{i}.json", "advise", *args)
    return docs


@pytest.fixture(scope="module")
def claims(tmp_path_factory) -> list[dict]:
    """claims.json of a tiny `reproduce` experiment (a theorem check: one seed, seconds)."""
    tiny = replace(REGISTRY["verify-thm1"], name="tiny-verify",
                   base={**REGISTRY["verify-thm1"].base, "data": "mnist:n=300", "latent_dim": 4},
                   quick={"epochs": 3, "eval_points": 300, "diagnostics_is_samples": 0,
                          "instances": 4})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("vaecollapse.experiments.runner.REGISTRY", {**REGISTRY, tiny.name: tiny})
        out = tmp_path_factory.mktemp("reproduce")
        returned = run_experiment(tiny.name, "quick", out, draw=draw, jobs=1)
    on_disk = json.loads((out / tiny.name / "claims.json").read_text())
    assert on_disk == returned
    return on_disk


def test_every_schema_is_shipped_and_valid():
    for name in SCHEMAS:
        schema = validator(name).schema
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    with pytest.raises(ValueError, match="unknown schema"):
        json_schema("predict.schema")


@pytest.mark.parametrize("name", ["predict", "diagnose", "advise"])
def test_real_outputs_validate_and_carry_the_versions(documents, name):
    assert documents[name]
    for case, doc in documents[name].items():
        assert errors(name, doc) == [], case
        assert doc["vaecollapse_version"] == __version__
        assert doc["schema_version"] == OUTPUT_SCHEMA_VERSION == 3
        assert list(doc)[:2] == ["vaecollapse_version", "schema_version"]


def test_claims_validate_and_carry_the_versions(claims):
    assert errors("claims", claims) == []
    assert claims and all(c["vaecollapse_version"] == __version__ and c["schema_version"] == 3
                          for c in claims)


def test_the_documents_cover_every_shape(documents):
    """The cases above reach each branch of the schemas (else a branch is never checked)."""
    predict = documents["predict"]
    assert {d.get("solver") for d in predict.values()} == {"closed-form", "numerical"}
    assert {d.get("theta_scale") for d in predict.values()} >= {"std", "variance"}
    assert predict["unbounded"]["bounded"] is False
    assert False in predict["sweep with an unbounded point"]["sweep"]["bounded"]
    assert predict["mhvae numerical"]["levels"] == 3
    diag = documents["diagnose"]
    assert "run" in diag["vae diagnose --json"] and "run" not in diag["vae diagnostics.json"]
    assert diag["vae diagnose --json"]["theory"] is not None
    assert diag["mhvae diagnose --json"]["theory"] is None
    assert [lev["name"] for lev in diag["mhvae diagnose --json"]["levels"]] == ["z1", "z2"]
    advise = documents["advise"]
    assert advise["vae"]["recommendation"]["lever"] == "max_beta"
    assert advise["mhvae no lever"]["recommendation"]["lever"] is None


# ------------------------------------------------------------------------------ mutations
# (document, path to the object, change): each must make the document invalid.


def _remove(key):
    return lambda obj: obj.pop(key)


def _rename(key, new):
    return lambda obj: obj.__setitem__(new, obj.pop(key))


def _set(key, value):
    return lambda obj: obj.__setitem__(key, value)


MUTATIONS = [
    ("predict", "vae learnable", (), _remove("schema_version")),
    ("predict", "vae learnable", (), _remove("vaecollapse_version")),
    ("predict", "vae learnable", (), _set("schema_version", "1")),
    ("predict", "vae learnable", (), _rename("n_collapsed", "collapsed_count")),
    ("predict", "vae learnable", (), _set("n_collapsed", 1.5)),
    ("predict", "vae learnable", (), _set("solver", "closed_form")),
    ("predict", "vae learnable", (), _set("theta_scale", "variance")),  # the VAE's θ are stds
    ("predict", "cvae", (), _set("theta_scale", "std")),
    ("predict", "vae learnable", (), _set("next_collapse", 3.0)),
    ("predict", "vae learnable", ("data",), _remove("rank")),
    ("predict", "vae learnable", ("hyperparameters",), _rename("beta", "b")),
    ("predict", "vae learnable", ("modes", 0), _remove("critical_beta")),
    ("predict", "vae learnable", ("modes", 0), _rename("lambda", "lambda_")),
    ("predict", "vae learnable", ("modes", 0), _set("collapsed", "no")),
    ("predict", "mhvae theorem 3", ("modes", 0), _remove("sigma2")),
    ("predict", "mhvae numerical", ("modes", 0), _set("collapsed_z3", 0)),
    ("predict", "unbounded", (), _remove("reason")),
    ("predict", "unbounded", (), _set("bounded", True)),
    ("predict", "sweep", ("sweep",), _remove("collapsed")),
    ("predict", "sweep", ("sweep",), _set("parameter", "gamma")),
    ("diagnose", "vae diagnose --json", (), _remove("n_collapsed")),
    ("diagnose", "vae diagnose --json", (), _rename("mutual_information", "mi")),
    ("diagnose", "vae diagnose --json", (), _set("schema_version", 1)),
    ("diagnose", "vae diagnose --json", ("levels", 0), _remove("active_modes")),
    ("diagnose", "vae diagnose --json", ("levels", 0), _set("collapsed_dims", "1,2")),
    ("diagnose", "vae diagnose --json", ("eps_delta",), _set("delta", "0.05")),
    ("diagnose", "vae diagnose --json", ("log_likelihood",), _remove("stderr")),
    ("diagnose", "vae diagnose --json", ("theory",), _remove("lambda_mae")),
    ("diagnose", "vae diagnose --json", ("run",), _set("epoch", "1")),
    ("diagnose", "mhvae diagnostics.json", (), _remove("vaecollapse_version")),
    ("advise", "vae", (), _remove("max_beta")),
    ("advise", "vae", (), _set("keep", "2")),
    ("advise", "vae", (), _set("model", "hvae")),
    ("advise", "vae", ("recommendation",), _set("lever", "beta")),
    ("advise", "vae", ("recommendation",), _remove("null_reasons")),
    ("advise", "vae", ("recommendation",), _set("train", None)),
    ("advise", "mhvae no lever", ("recommendation",), _remove("why")),
]


def _target(doc, path):
    for key in path:
        doc = doc[key]
    return doc


@pytest.mark.parametrize("name, case, path, change", MUTATIONS,
                         ids=[f"{n}:{c}:{'/'.join(map(str, p))}:{i}"
                              for i, (n, c, p, _) in enumerate(MUTATIONS)])
def test_a_mutated_document_fails(documents, name, case, path, change):
    doc = copy.deepcopy(documents[name][case])
    assert errors(name, doc) == []
    change(_target(doc, path))
    assert errors(name, doc), f"{name} schema accepted the mutated {case} document"


@pytest.mark.parametrize("path, change", [
    ((0,), _remove("holds")),
    ((0,), _remove("schema_version")),
    ((0,), _rename("evidence", "evidences")),
    ((0,), _set("holds", "yes")),
    ((0, "table"), _remove("rows")),
    ((0, "table"), _set("header", "quantity")),
])
def test_a_mutated_claims_file_fails(claims, path, change):
    doc = copy.deepcopy(claims)
    change(_target(doc, path))
    assert errors("claims", doc)
    assert errors("claims", {"claims": claims})  # a list, not an object
