"""Fully connected: ``fc``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from ..errors import LayerArgError
from ..shapes import RF, Shape, prod
from .base import BIAS, REQUIRED, WEIGHT, Arg, Layer, Shapes, Tensor, Tensors, Work, layer_class

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation, RFDerivation
    from .arrays import Array


@layer_class
class Linear(Layer):
    """Fully connected layer on a flat ``[F]`` input (a ``[C, 1, 1]`` map counts as ``[C]``,
    so ``global_avgpool`` may feed it directly; a larger map needs ``flatten``).
    Weights ``out × F`` + ``out`` bias
    (the slides' ``C_in × C_out + C_out``). MACs ``F·out``; bias adds ``out`` (``full``)."""

    kind: ClassVar[str] = "fc"
    doc: ClassVar[str] = "fully connected (linear) layer on a flat input"
    ALIASES: ClassVar[tuple[str, ...]] = ("linear", "dense")
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("out", "int+", REQUIRED, "output features"),
        Arg("bias", "bool", True, "learnable bias"),
    )
    POST_ARGS: ClassVar[tuple[str, ...]] = ("bn", "act")
    out: int
    bias: bool = True

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        if len(shape) != 1 and any(n != 1 for n in shape[1:]):
            raise LayerArgError(
                f"fc expects a flat [features] input but receives the spatial tensor {list(shape)}",
                hint="add `- flatten` before this layer (or a global_avgpool and a flatten)",
            )
        return (self.out,)

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        fin = ins[0][0]
        found = [Tensor("weight", (self.out, fin), WEIGHT, fin)]
        if self.bias:
            found.append(Tensor("bias", (self.out,), BIAS))
        return tuple(found)

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(macs=ins[0][0] * self.out, elementwise=self.out if self.bias else 0)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """Every output reads every input: no spatial layout, no receptive field after it."""
        return None

    def refines(self, ins: Shapes) -> bool:
        return False

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``y = x·Wᵀ + b`` on ``(B, F)`` (a ``(B, C, 1…)`` map is read as ``(B, C)``):
        ``B·F·out`` MACs."""
        from ..errors import ExecError

        (x,) = inputs
        if prod(x.shape[2:]) != 1:
            raise ExecError(f"fc received the spatial tensor {list(x.shape[1:])}",
                            hint="flatten first")
        y = ctx.matmul(x.reshape(x.shape[0], x.shape[1]), w["weight"].T)
        if self.bias:
            y += w["bias"]
        return y

    def explain(self, ex: Derivation) -> None:
        fin = ex.shape[0]
        ex.channels("F_out", {"F_out": self.out})
        ex.shape_checked()
        ex.section("weights")
        ex.tensor("weight", "F_out*F_in", {"F_out": self.out, "F_in": fin},
                  prod(self.params(ex.ins)["weight"]), times=True,
                  note="" if len(ex.shape) == 1 else
                  f"a {'×'.join(map(str, ex.shape))} map counts as F_in = C")
        if self.bias:
            ex.tensor("bias", "F_out", {"F_out": self.out}, self.out)
        ex.macs("F_in*F_out", {"F_in": fin, "F_out": self.out},
                "one multiply-accumulate per weight")
        if self.bias:
            ex.elementwise("bias", "F_out", {"F_out": self.out}, self.out)

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.ends()
