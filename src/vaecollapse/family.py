"""The model families, one list for the whole package: the VAE, the conditional VAE (CVAE) and the
hierarchical VAE (MHVAE; two or more latent levels).

:class:`Family` is a string enum, so a family compares equal to its name (``Family.CVAE ==
"cvae"``) and is written to JSON as that name; code asks a family what it is (``conditional``,
``hierarchical``) instead of comparing names.
"""

from __future__ import annotations

from enum import StrEnum

from vaecollapse.errors import HyperparameterError


class Family(StrEnum):
    """A model family: ``vae`` (q(z|x), p(x|z)), ``cvae`` (a target y given a condition x:
    q(z|x, y), p(y|x, z)) or ``mhvae`` (latent levels z1 … zL, x → z1 → … → zL)."""

    VAE = "vae"
    CVAE = "cvae"
    MHVAE = "mhvae"

    @classmethod
    def parse(cls, value: object) -> Family:
        """``value`` as a Family; anything else is a HyperparameterError naming the choices."""
        try:
            return cls(value)
        except ValueError:
            raise HyperparameterError(f"unknown model {value!r}: choose one of "
                                      f"{', '.join(FAMILIES)}") from None

    @property
    def conditional(self) -> bool:
        """True for the CVAE: it models a target y given a condition x (its data need y, and its
        θ are eigenvalues of the residual moment E, a variance scale)."""
        return self is Family.CVAE

    @property
    def hierarchical(self) -> bool:
        """True for the MHVAE: several latent levels, collapse judged on the top one."""
        return self is Family.MHVAE

    @property
    def theta_scale(self) -> str:
        """The scale of the theory's mode strengths θ: "variance" (CVAE) or "std"."""
        return "variance" if self.conditional else "std"

    @property
    def critical_parameter(self) -> str:
        """The KL weight whose critical value the closed forms give: β2 (MHVAE) or β."""
        return "beta2" if self.hierarchical else "beta"

    def require_target(self, has_y: bool, spec: str | None = None) -> None:
        """The CVAE models a target y given a condition x: its data must hold both (``has_y``);
        a HyperparameterError otherwise, saying how to get a y."""
        if self.conditional and not has_y:
            where = f", but {spec!r} has no y" if spec else ""
            raise HyperparameterError(
                f"the CVAE needs a condition x and a target y{where}: add split=quarter (or "
                "split=half) to an image spec, or use synthetic:… or an npz with arrays x and y")


#: the family names, in the order every list and message uses
FAMILIES: tuple[str, ...] = tuple(f.value for f in Family)
