"""Verificações do notebook de teste 99_toy (fixture do pipeline)."""

import torch

from course_lib.checks import Case, Exercise, register


def add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a + b


def _add_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(3, generator=gen), torch.randn(3, generator=gen)), description="vetores de tamanho 3"),
        Case((torch.randn(2, 4, generator=gen), torch.randn(2, 4, generator=gen)), description="matrizes 2x4"),
        Case((torch.zeros(2), torch.ones(2)), description="zeros + uns"),
    ]


register(
    Exercise(
        id="99.add",
        func_name="add",
        reference=add,
        make_cases=_add_cases,
        points=1,
        known_mistakes=[("subtração no lugar de soma", lambda a, b: a - b)],
    )
)


def softmax(logits: torch.Tensor) -> torch.Tensor:
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    exp = shifted.exp()
    return exp / exp.sum(dim=-1, keepdim=True)


def _softmax_no_max(logits: torch.Tensor) -> torch.Tensor:
    exp = logits.exp()
    return exp / exp.sum(dim=-1, keepdim=True)


def _softmax_wrong_axis(logits: torch.Tensor) -> torch.Tensor:
    shifted = logits - logits.max(dim=0, keepdim=True).values
    exp = shifted.exp()
    return exp / exp.sum(dim=0, keepdim=True)


def _softmax_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(2, 5, generator=gen),), description="logits aleatórios (2, 5)"),
        Case((torch.randn(3, 4, generator=gen) * 1e4,), description="logits com valores enormes (1e4)"),
        Case((torch.zeros(1, 3),), description="logits todos iguais"),
    ]


register(
    Exercise(
        id="99.softmax",
        func_name="softmax",
        reference=softmax,
        make_cases=_softmax_cases,
        points=2,
        output_names=("batch", "d_vocab"),
        known_mistakes=[
            ("sem subtrair o máximo", _softmax_no_max),
            ("softmax sobre o eixo errado", _softmax_wrong_axis),
        ],
    )
)
