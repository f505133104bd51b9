"""Testes do verificador de exercícios (course_lib.checks.core)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from course_lib import checks
from course_lib.checks import (
    Case,
    CheckFailed,
    Exercise,
    ModelRef,
    capture_call,
    check,
    compare_tensors,
    compare_values,
    evaluate,
    get_exercise,
    register,
    register_model_resolver,
    to_plain,
    unregister,
)


def softmax_temp(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    scaled = logits / temperature
    shifted = scaled - scaled.max(dim=-1, keepdim=True).values
    exp = shifted.exp()
    return exp / exp.sum(dim=-1, keepdim=True)


def no_max(logits, temperature=1.0):
    exp = (logits / temperature).exp()
    return exp / exp.sum(dim=-1, keepdim=True)


def wrong_axis(logits, temperature=1.0):
    return softmax_temp(logits.transpose(0, 1), temperature).transpose(0, 1)


def temperature_after(logits, temperature=1.0):
    return softmax_temp(logits) / temperature


def make_cases(gen: torch.Generator) -> list[Case]:
    return [
        Case((torch.randn(2, 5, generator=gen),), description="logits aleatórios (2, 5)"),
        Case((torch.randn(3, 4, generator=gen) * 1e4,), description="logits com valores enormes (1e4)"),
        Case((torch.randn(2, 3, generator=gen),), {"temperature": 2.0}, description="temperatura 2"),
    ]


EXERCISE = Exercise(
    id="97.softmax_temp",
    func_name="softmax_temp",
    reference=softmax_temp,
    make_cases=make_cases,
    points=2,
    output_names=("batch", "d_vocab"),
    known_mistakes=[
        ("sem subtrair o máximo", no_max),
        ("softmax sobre o eixo errado", wrong_axis),
        ("temperatura aplicada depois do softmax", temperature_after),
    ],
)


@pytest.fixture(autouse=True)
def registered():
    register(EXERCISE)
    yield
    unregister(EXERCISE.id)


def run_failing(student) -> str:
    """Roda check esperando CheckFailed; devolve o texto impresso + o resumo."""
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer), pytest.raises(CheckFailed) as info:
        check(EXERCISE.id, student)
    return buffer.getvalue() + "\nRESUMO: " + str(info.value)


# ---------------------------------------------------------------------------
# check(): retorno ao aluno
# ---------------------------------------------------------------------------


def test_correct_solution_passes(capsys):
    check(EXERCISE.id, softmax_temp)
    assert capsys.readouterr().out == "✅ softmax_temp: 3/3 casos corretos\n"


def test_check_failed_is_not_an_assertion():
    assert issubclass(CheckFailed, Exception) and not issubclass(CheckFailed, AssertionError)
    assert CheckFailed("resumo")._render_traceback_() == ["CheckFailed: resumo"]


def test_wrong_shape_names_the_axis():
    text = run_failing(lambda logits, temperature=1.0: softmax_temp(logits, temperature)[:, :-1])
    assert "❌ softmax_temp: 0/3 casos corretos" in text
    assert "Caso 1 de 3: logits aleatórios (2, 5)" in text
    assert "formato errado; esperado (2, 5) [batch, d_vocab], obtido (2, 4)" in text
    assert "eixo 1 (d_vocab): esperado 5, obtido 4" in text


def test_wrong_value_reports_first_position():
    def student(logits, temperature=1.0):
        out = softmax_temp(logits, temperature)
        out[1, 3] += 0.5
        return out

    text = run_failing(student)
    expected = softmax_temp(EXERCISE.cases()[0].args[0])[1, 3].item()
    assert "valores errados em 1 de 10 posição(ões)" in text
    assert f"primeira em [batch=1, d_vocab=3]: esperado {expected:.6g}, obtido {expected + 0.5:.6g}" in text
    assert "maior erro absoluto: 0.5" in text


def test_nan_is_reported():
    def student(logits, temperature=1.0):
        out = softmax_temp(logits, temperature)
        out[0, 2] = float("nan")
        return out

    text = run_failing(student)
    assert "contém NaN em 1 posição(ões) onde não deveria; primeira em [batch=0, d_vocab=2]" in text


@pytest.mark.parametrize(
    ("student", "mistake", "case"),
    [
        (no_max, "sem subtrair o máximo", "Caso 2 de 3: logits com valores enormes (1e4)"),
        (wrong_axis, "softmax sobre o eixo errado", "Caso 1 de 3"),
        (temperature_after, "temperatura aplicada depois do softmax", "Caso 3 de 3: temperatura 2"),
    ],
)
def test_known_mistake_is_named(student, mistake, case):
    text = run_failing(student)
    assert case in text
    assert f"💡 Parece um erro comum: {mistake}" in text
    assert f"provável erro: {mistake}" in text


def test_student_exception_is_feedback_not_crash():
    def student(logits, temperature=1.0):
        total = logits.sum(dim=-1)
        return total.view(7, 7)  # linha com erro

    text = run_failing(student)
    assert "sua função levantou uma exceção RuntimeError" in text
    assert "em `student`, linha " in text and ": return total.view(7, 7)  # linha com erro" in text


def test_not_implemented_is_reported():
    def student(logits, temperature=1.0):
        # SEU CÓDIGO AQUI
        raise NotImplementedError("Exercício ainda não resolvido: 97.softmax_temp")

    text = run_failing(student)
    assert "❌ softmax_temp: você ainda não implementou este exercício" in text
    assert "RESUMO: softmax_temp: você ainda não implementou este exercício" in text


def test_not_callable_is_reported():
    assert "esperava uma função, recebi um objeto do tipo int" in run_failing(3)


class LyingObject:
    def __eq__(self, other):
        return True


class LyingTensor(torch.Tensor):
    def __eq__(self, other):
        return torch.ones_like(other, dtype=torch.bool)


@pytest.mark.parametrize(
    ("make_output", "type_name"),
    [
        (lambda out: LyingObject(), "LyingObject"),
        (lambda out: out.as_subclass(LyingTensor), "LyingTensor"),
        (lambda out: out.numpy(), "numpy.ndarray"),
        (lambda out: out.tolist(), "list"),
    ],
)
def test_lying_or_wrong_types_are_rejected(make_output, type_name):
    text = run_failing(lambda logits, temperature=1.0: make_output(softmax_temp(logits, temperature)))
    assert "saída: tipo errado; esperado torch.Tensor, obtido" in text and type_name in text


def test_input_mutation_cannot_fool_the_reference():
    # zera a entrada e devolve o softmax uniforme (= softmax da entrada zerada)
    def student(logits, temperature=1.0):
        logits.zero_()
        return torch.full_like(logits, 1.0 / logits.shape[-1])

    case = EXERCISE.cases()[0]
    original = case.args[0].clone()
    text = run_failing(student)
    assert "valores errados" in text
    assert "modificou a entrada `logits`" in text
    capture_call(student, case)
    assert torch.equal(case.args[0], original)


def test_in_place_but_correct_passes_with_note(capsys):
    def student(logits, temperature=1.0):
        logits /= temperature
        logits -= logits.max(dim=-1, keepdim=True).values
        exp = logits.exp()
        return exp / exp.sum(dim=-1, keepdim=True)

    check(EXERCISE.id, student)
    out = capsys.readouterr().out
    assert out.startswith("✅ softmax_temp: 3/3 casos corretos")
    assert "modificou a entrada `logits`" in out


# ---------------------------------------------------------------------------
# Comparação e dados simples
# ---------------------------------------------------------------------------


def test_compare_tensors_details():
    x = torch.arange(6.0).reshape(2, 3)
    assert compare_tensors(x, x.clone()) is None
    assert compare_tensors(x, x + 1e-7) is None
    assert "dtype errado; esperado torch.float32, obtido torch.float64" in compare_tensors(x, x.double())
    assert "número de eixos errado; esperado 2, obtido 1" in compare_tensors(x, x.flatten(), axis_names=("a", "b"))
    assert "primeira em [1, 2]: esperado 5, obtido 6" in compare_tensors(x, torch.tensor([[0.0, 1, 2], [3, 4, 6]]))
    assert "contém infinito em 6 posição(ões)" in compare_tensors(x, (x + 1) / torch.zeros(2, 3))
    ints = torch.tensor([1, 2, 3])
    assert "primeira em [pos=2]: esperado 3, obtido 4" in compare_tensors(ints, torch.tensor([1, 2, 4]), axis_names=("pos",))
    assert "(escalar): esperado 1, obtido 2" in compare_tensors(torch.tensor(1.0), torch.tensor(2.0))
    nan = torch.tensor([float("nan"), 1.0])
    assert compare_tensors(nan, nan.clone()) is None
    assert "tipo errado" in compare_tensors(x, x.to_sparse())


def test_compare_values_structures():
    a, b = torch.zeros(2, 3), torch.ones(4)
    names = [("batch", "d_model"), ("pos",)]
    assert compare_values((a, b), [a.clone(), b.clone()], axis_names=names) is None
    problem = compare_values((a, b), (a, torch.ones(5)), axis_names=names)
    assert "saída[1]: formato errado" in problem and "eixo 0 (pos): esperado 4, obtido 5" in problem
    assert "tamanho errado; esperado 2 elementos, obtido 1" in compare_values((a, b), (a,))
    assert "use .item()" in compare_values(1.5, torch.tensor(1.5))
    assert compare_values(1.5, 1.5 + 1e-9) is None
    assert "valor errado; esperado 'a', obtido 'b'" in compare_values("a", "b")
    assert "saída['k']: valor errado" in compare_values({"k": 1}, {"k": 2})


def test_to_plain():
    param = torch.nn.Parameter(torch.ones(2))
    plain = to_plain(param * 2)
    assert type(plain) is torch.Tensor and not plain.requires_grad
    assert type(to_plain(param)) is torch.Tensor
    assert to_plain(torch.Size([2, 3])) == (2, 3)
    assert to_plain(np.float32(1.5)) == 1.5 and type(to_plain(np.int64(3))) is int
    assert to_plain(np.zeros(2)) == {"__tipo_invalido__": "numpy.ndarray"}
    assert to_plain(torch.ones(2).as_subclass(LyingTensor)) == {"__tipo_invalido__": f"{__name__}.LyingTensor"}


def test_case_arguments_must_be_plain():
    Case((torch.ones(2), 3, "texto", [1.0, 2.0], {"a": None}, ModelRef("tiny")))
    with pytest.raises(TypeError, match="não é permitido em um Case"):
        Case((torch.nn.Linear(2, 2),))
    with pytest.raises(TypeError, match="não é permitido em um Case"):
        Case((np.zeros(2),))


def test_model_ref_is_resolved_by_the_registered_resolver():
    model = torch.nn.Linear(3, 2)
    loaded = []

    def resolver(name):
        loaded.append(name)
        return model

    register_model_resolver(resolver)
    try:
        case = Case((ModelRef("tiny"), torch.ones(1, 3)), description="modelo minúsculo")
        first = capture_call(lambda m, x: m(x), case)
        second = capture_call(lambda m, x: m(x), case)
        assert torch.allclose(first["output"], model(torch.ones(1, 3)).detach())
        assert torch.equal(first["output"], second["output"])
        assert loaded == ["tiny"]  # carregado uma vez só
    finally:
        register_model_resolver(None)


def test_hidden_cases_are_deterministic_and_different():
    visible = EXERCISE.cases()
    hidden = EXERCISE.hidden_cases(seed=123)
    assert torch.equal(visible[0].args[0], EXERCISE.cases()[0].args[0])
    assert torch.equal(hidden[0].args[0], EXERCISE.hidden_cases(seed=123)[0].args[0])
    assert not torch.equal(hidden[0].args[0], visible[0].args[0])
    assert not torch.equal(hidden[0].args[0], EXERCISE.hidden_cases(seed=124)[0].args[0])


def test_grader_round_trip_through_torch_save(tmp_path):
    """Lado do aluno (subprocesso) salva dados simples; o corretor avalia no seu processo."""
    cases = EXERCISE.hidden_cases(seed=7) + [Case((ModelRef("m"),), description="só referência")]
    payload = {
        "cases": [c.to_dict() for c in cases[:-1]],
        "correct": [capture_call(softmax_temp, c) for c in cases[:-1]],
        "wrong": [capture_call(temperature_after, c) for c in cases[:-1]],
        "ref": cases[-1].to_dict(),
    }
    torch.save(payload, tmp_path / "saidas.pt")
    loaded = torch.load(tmp_path / "saidas.pt", weights_only=True)
    assert Case.from_dict(loaded["ref"]).args == (ModelRef("m"),)
    restored = [Case.from_dict(d) for d in loaded["cases"]]
    good = [evaluate(EXERCISE, c, out, i) for i, (c, out) in enumerate(zip(restored, loaded["correct"]))]
    assert all(r.passed for r in good)
    bad = [evaluate(EXERCISE, c, out, i) for i, (c, out) in enumerate(zip(restored, loaded["wrong"]))]
    assert [r.passed for r in bad] == [True, True, False]
    assert bad[2].mistake == "temperatura aplicada depois do softmax"


# ---------------------------------------------------------------------------
# Registro e importação sob demanda
# ---------------------------------------------------------------------------


def test_lazy_import_by_notebook_prefix(tmp_path, monkeypatch, capsys):
    (tmp_path / "nb96_lazy.py").write_text(
        "import torch\n"
        "from course_lib.checks import Case, Exercise, register\n"
        "def double(x):\n    return 2 * x\n"
        "register(Exercise(id='96.double', func_name='double', reference=double,\n"
        "    make_cases=lambda gen: [Case((torch.randn(3, generator=gen),), description='vetor')]))\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("COURSE_LIB_CHECKS_PATH", str(tmp_path))
    try:
        assert get_exercise("96.double").func_name == "double"
        check("96.double", lambda x: x + x)
        assert capsys.readouterr().out == "✅ double: 1/1 casos corretos\n"
    finally:
        unregister("96.double")
        sys.modules.pop("course_lib.checks.nb96_lazy", None)
    monkeypatch.delenv("COURSE_LIB_CHECKS_PATH")
    with pytest.raises(LookupError):
        get_exercise("96.double")
    assert str(tmp_path) not in checks.__path__


def test_unknown_exercise_and_duplicate_registration():
    with pytest.raises(LookupError, match="nb95_"):
        get_exercise("95.nada")
    other = Exercise(id=EXERCISE.id, func_name="x", reference=lambda x: x, make_cases=make_cases)
    other.reference.__module__ = "outro_modulo"
    with pytest.raises(ValueError, match="já registrado"):
        register(other)
    with pytest.raises(ValueError, match="id de exercício inválido"):
        register(Exercise(id="softmax", func_name="x", reference=softmax_temp, make_cases=make_cases))


def test_infinities_are_explained():
    from course_lib.checks.core import compare_tensors
    exp = torch.tensor([0.0, float("-inf")])
    msg = compare_tensors(exp, torch.tensor([0.0, -1e9]))
    assert msg is not None and "-inf" in msg and "maior erro absoluto: 0" not in msg


def test_int_answer_must_be_int():
    from course_lib.checks.core import compare_values
    assert "esperado int" in compare_values(12, 12.0)
    assert compare_values(12, 12) is None


def _ex(**kw):
    from course_lib.checks import Case, Exercise
    return Exercise(id="99.tmp", func_name="f", reference=lambda x: x.exp() / x.exp().sum(-1, keepdim=True),
                    make_cases=lambda g: [Case((torch.randn(2, 3, generator=g),), description="aleatório")], **kw)


def test_forbidden_api_is_detected_by_what_runs():
    from course_lib.checks import run_checks
    ex = _ex(forbidden={"softmax": "escreva o softmax à mão"})
    import torch.nn.functional as F
    alias = F.softmax
    for fn in (lambda x: torch.softmax(x, -1), lambda x: x.softmax(-1), lambda x: alias(x, dim=-1)):
        report = run_checks(ex, fn)
        assert not report.passed and "proíbe" in report.text
    assert run_checks(ex, lambda x: x.exp() / x.exp().sum(-1, keepdim=True)).passed


def test_forbidden_python_function_is_detected():
    from course_lib.checks import run_checks
    from course_lib import activations
    ex = _ex(forbidden={"course_lib.activations.pca": "implemente a PCA"})
    def student(x):
        try:
            activations.pca(x, 1)
        except Exception:
            pass
        return x.exp() / x.exp().sum(-1, keepdim=True)
    assert not run_checks(ex, student).passed


def test_forbid_inplace():
    from course_lib.checks import run_checks
    ex = _ex(forbid_inplace=True)
    def inplace(x):
        x.exp_()
        return x / x.sum(-1, keepdim=True)
    report = run_checks(ex, inplace)
    assert not report.passed and "tensor novo" in report.text


def test_when_solved_swallows_only_stub_errors(capsys):
    from course_lib.checks import when_solved
    with when_solved("a figura"):
        raise NotImplementedError("Exercício ainda não resolvido: 03.logit_lens")
    assert "resolva 03.logit_lens para ver a figura" in capsys.readouterr().out
    with pytest.raises(NotImplementedError):
        with when_solved():
            raise NotImplementedError("outra coisa")
    with pytest.raises(ValueError):
        with when_solved():
            raise ValueError("erro do aluno")


def test_custom_compare_that_breaks_on_an_unexpected_output_does_not_crash_the_check():
    """Uma comparação sob medida que não previu a saída (ex.: tuple(None)) vira mensagem, não exceção."""
    def fragile(expected, got):
        return None if tuple(got) == tuple(expected) else "respostas diferentes"

    exercise = Exercise(id="97.fragile", func_name="f", reference=lambda x: (1, 2),
                        make_cases=lambda gen: [Case((0,), description="um caso")], compare=fragile,
                        known_mistakes=[("trocou a ordem", lambda x: (2, 1))])
    (case,) = exercise.cases()
    result = evaluate(exercise, case, capture_call(lambda x: None, case))
    assert not result.passed and result.mistake is None
    assert "não foi possível comparar" in result.message and "NoneType" in result.message
    wrong = evaluate(exercise, case, capture_call(lambda x: (2, 1), case))
    assert wrong.mistake == "trocou a ordem"
