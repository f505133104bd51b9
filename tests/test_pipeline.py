"""Testes do pipeline de notebooks (tools/build_course.py) e da regra de vacuidade."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
FIXTURE_SOURCES = DATA / "course"
FIXTURE_CHECKS = DATA / "checks"


def _load_build_module():
    spec = importlib.util.spec_from_file_location("build_course", ROOT / "tools" / "build_course.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_course"] = module
    spec.loader.exec_module(module)
    return module


build = _load_build_module()


def build_main(*args: str | Path) -> int:
    return build.main([str(a) for a in args])


def code_cells(notebook) -> list:
    return [c for c in notebook.cells if c.cell_type == "code"]


def assert_vacuous(exercise_path: Path, solution_path: Path) -> None:
    """Sem solução, só as células check falham (CheckFailed); na solução, nenhuma."""
    notebook = nbformat.read(exercise_path, as_version=4)
    build.execute_notebook(notebook, exercise_path.parent, 300, str(exercise_path), allow_errors=True)
    check_ids = []
    for cell in code_cells(notebook):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "check" in cell.metadata.get("tags", []):
            check_ids.append(cell.id)
            assert errors, f"{exercise_path.name}: a célula check {cell.id} passou sem solução:\n{cell.source}"
            last = cell.outputs[-1]
            assert last.output_type == "error" and last.ename == "CheckFailed", (
                f"{exercise_path.name}: célula check {cell.id} terminou com {last.get('ename', last.output_type)}"
            )
        else:
            assert not errors, (
                f"{exercise_path.name}: célula {cell.id} (não check) falhou sem solução: "
                f"{errors[0].ename}: {errors[0].evalue}\n{cell.source}"
            )
    assert check_ids, f"{exercise_path.name}: nenhuma célula check"

    solution = nbformat.read(solution_path, as_version=4)
    by_id = {c.id: c for c in code_cells(solution)}
    for cid in check_ids:
        assert cid in by_id, f"{solution_path.name}: falta a célula check {cid}"
        cell = by_id[cid]
        assert cell.execution_count is not None, f"{solution_path.name}: célula check {cid} não executada"
        assert not [o for o in cell.outputs if o.output_type == "error"], f"{solution_path.name}: check {cid} com erro"


# ---------------------------------------------------------------------------
# Árvore commitada
# ---------------------------------------------------------------------------


def _committed_sources() -> list[Path]:
    return sorted((ROOT / "course").glob("*/*.py"))


def test_committed_tree_has_no_drift(capsys):
    if not _committed_sources():
        pytest.skip("course/ ainda não tem fontes (.py em course/lessons ou course/exercises)")
    code = build_main("--check")
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("name", [p.stem for p in sorted((ROOT / "exercises").glob("*.ipynb"))])
def test_committed_exercises_fail_only_at_checks(name):
    assert_vacuous(ROOT / "exercises" / f"{name}.ipynb", ROOT / "solutions" / f"{name}.ipynb")


# ---------------------------------------------------------------------------
# Fixture: tests/data/course (lição 99_demo e exercícios 99_toy)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checks_env():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_LIB_CHECKS_PATH", str(FIXTURE_CHECKS))
        yield


@pytest.fixture(scope="module")
def built(tmp_path_factory, checks_env) -> Path:
    """Build completo (com execução) da fixture; não modificar nos testes."""
    out = tmp_path_factory.mktemp("built")
    assert build_main("--source-dir", FIXTURE_SOURCES, "--out-dir", out) == 0
    return out


@pytest.fixture
def built_copy(built, tmp_path) -> Path:
    out = tmp_path / "copia"
    shutil.copytree(built, out)
    return out


def test_exercise_version_has_no_solution(built):
    text = (built / "exercises" / "99_toy.ipynb").read_text(encoding="utf-8")
    for leaked in ("BEGIN SOLUCAO", "END SOLUCAO", "result = a + b", "logits.max(dim=-1", "solution_only"):
        assert leaked not in text
    notebook = nbformat.read(built / "exercises" / "99_toy.ipynb", as_version=4)
    exercise_cells = [c for c in notebook.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(exercise_cells) == 2
    for cell in exercise_cells:
        assert "    # SEU CÓDIGO AQUI" in cell.source
        assert f'    raise NotImplementedError("Exercício ainda não resolvido: {cell.metadata.exercise}")' in cell.source
    for cell in code_cells(notebook):
        assert cell.outputs == [] and cell.execution_count is None


def test_metadata_for_grader(built):
    sha = hashlib.sha256((FIXTURE_SOURCES / "exercises" / "99_toy.py").read_bytes()).hexdigest()
    exercise = nbformat.read(built / "exercises" / "99_toy.ipynb", as_version=4)
    solution = nbformat.read(built / "solutions" / "99_toy.ipynb", as_version=4)
    lesson = nbformat.read(built / "notebooks" / "99_demo.ipynb", as_version=4)
    listed = [{"id": "99.add", "points": 1}, {"id": "99.softmax", "points": 2}]
    assert exercise.metadata.course == {"kind": "exercise", "notebook": "99_toy", "source_sha256": sha, "exercises": listed}
    assert solution.metadata.course == {"kind": "solution", "notebook": "99_toy", "source_sha256": sha, "exercises": listed}
    assert lesson.metadata.course["kind"] == "lesson" and lesson.metadata.course["notebook"] == "99_demo"
    assert exercise.nbformat == 4 and exercise.nbformat_minor == 5

    tagged = {c.id: dict(c.metadata) for c in exercise.cells if c.metadata.get("exercise")}
    assert sorted(m["exercise"] for m in tagged.values()) == ["99.add", "99.add", "99.softmax", "99.softmax"]
    check_meta = [m for m in tagged.values() if m["tags"] == ["check"]]
    assert all(m["editable"] is False and m["deletable"] is False for m in check_meta)
    # mesmos ids nas duas versões: o corretor acha a célula do exercício pelo id ou pelos metadados
    solution_ids = {c.id for c in solution.cells}
    assert set(tagged) <= solution_ids
    # a solução tem a célula solution_only; o notebook do aluno, a regra da correção logo após o título
    assert len(solution.cells) == len(exercise.cells) - 1 + 1
    rules = exercise.cells[1]
    assert rules.cell_type == "markdown" and "Como este notebook é corrigido" in rules.source
    assert "apenas as definições" in rules.source and "vale a cópia que você editou" in rules.source
    assert not any("Como este notebook é corrigido" in c.source for c in solution.cells)
    for cell in code_cells(solution):
        assert cell.execution_count is not None
        assert "execution" not in cell.metadata
    outputs = "".join(o.get("text", "") for c in code_cells(solution) for o in c.outputs)
    assert "✅ add: 3/3 casos corretos" in outputs and "✅ softmax: 3/3 casos corretos" in outputs


def test_lesson_outputs_cleaned(built):
    lesson = nbformat.read(built / "notebooks" / "99_demo.ipynb", as_version=4)
    assert set(lesson.metadata) == {"course", "kernelspec", "language_info"}
    assert lesson.metadata.language_info["version"] == "3.11.7"
    mimes = {m for c in code_cells(lesson) for o in c.outputs for m in o.get("data", {})}
    assert "image/png" in mimes
    assert not any("widget" in m for m in mimes)


def test_rebuild_is_deterministic(built, tmp_path, checks_env):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert build_main("--no-execute", "--source-dir", FIXTURE_SOURCES, "--out-dir", out) == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*.ipynb"))
    assert len(files) == 3
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    # a versão de exercícios nunca é executada: idêntica à do build completo
    assert (first / "exercises" / "99_toy.ipynb").read_bytes() == (built / "exercises" / "99_toy.ipynb").read_bytes()


def test_check_passes_on_fresh_build(built, checks_env, capsys):
    assert build_main("--check", "--source-dir", FIXTURE_SOURCES, "--out-dir", built) == 0
    assert "em dia" in capsys.readouterr().out


def test_check_detects_edited_files(built_copy, checks_env, capsys):
    path = built_copy / "exercises" / "99_toy.ipynb"
    notebook = nbformat.read(path, as_version=4)  # célula 4: a 3 da solução (a 1 é a regra da correção)
    notebook.cells[4].source = notebook.cells[4].source.replace("# SEU CÓDIGO AQUI", "result = a + b")
    nbformat.write(notebook, path)
    path = built_copy / "solutions" / "99_toy.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[3].metadata["points"] = 5
    nbformat.write(notebook, path)
    (built_copy / "notebooks" / "99_demo.ipynb").unlink()
    shutil.copy(built_copy / "solutions" / "99_toy.ipynb", built_copy / "solutions" / "98_orfao.ipynb")

    assert build_main("--check", "--source-dir", FIXTURE_SOURCES, "--out-dir", built_copy) == 1
    err = capsys.readouterr().err
    assert "exercises/99_toy.ipynb: célula 4: fonte diferente" in err
    assert "+    # SEU CÓDIGO AQUI" in err
    assert "solutions/99_toy.ipynb: célula 3: metadados" in err
    assert "notebooks/99_demo.ipynb: arquivo ausente" in err
    assert "solutions/98_orfao.ipynb: notebook sem fonte correspondente" in err


def test_check_detects_source_change_and_unexecuted(built, tmp_path, checks_env, capsys):
    sources = tmp_path / "course"
    shutil.copytree(FIXTURE_SOURCES, sources)
    lesson = sources / "lessons" / "99_demo.py"
    lesson.write_text(lesson.read_text(encoding="utf-8").replace("Lição mínima", "Lição curta"), encoding="utf-8")
    out = tmp_path / "out"
    shutil.copytree(built, out)
    assert build_main("--no-execute", "--source-dir", sources, "--out-dir", out, "99_toy") == 0
    assert build_main("--check", "--source-dir", sources, "--out-dir", out) == 1
    err = capsys.readouterr().err
    assert "notebooks/99_demo.ipynb: metadados 'course' diferentes" in err
    assert "notebooks/99_demo.ipynb: célula 0: fonte diferente" in err
    assert "solutions/99_toy.ipynb: célula 1: célula não executada" in err
    assert "exercises/99_toy.ipynb" not in err


def test_fixture_exercises_fail_only_at_checks(built, checks_env):
    assert_vacuous(built / "exercises" / "99_toy.ipynb", built / "solutions" / "99_toy.ipynb")


def test_nbval_on_fixture(built):
    env = dict(os.environ, COURSE_LIB_CHECKS_PATH=str(FIXTURE_CHECKS))
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir", str(built), "--nbval-current-env"]
    strict = subprocess.run(
        base + ["--nbval", "--nbval-sanitize-with", str(ROOT / "nbval_sanitize.cfg"), "notebooks", "solutions"],
        cwd=built, env=env, capture_output=True, text=True, timeout=300,
    )
    assert strict.returncode == 0, strict.stdout + strict.stderr
    student = subprocess.run(
        base + ["--nbval-lax", "exercises/99_toy.ipynb"],
        cwd=built, env=env, capture_output=True, text=True, timeout=300,
    )
    assert student.returncode == 1
    assert "2 failed, 4 passed" in student.stdout, student.stdout
    assert "CheckFailed: add: você ainda não implementou este exercício" in student.stdout


# ---------------------------------------------------------------------------
# Erros nas fontes
# ---------------------------------------------------------------------------

GOOD_HEADER = """# %%
import torch
from course_lib.checks import check

# %% [markdown]
# ## Exercício 99.add · ★☆☆ · ~2 min
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '# %% tags=["exercise"] exercise="99.add" points=1\n# BEGIN SOLUCAO\nadd = lambda a, b: a + b\n# END SOLUCAO\n\n'
            '# %% tags=["check"]\ncheck("99.add", add)\n',
            "dentro de uma função",
        ),
        (
            '# %% tags=["exercise"] exercise="99.add" points=1\ndef add(a, b):\n    # BEGIN SOLUCAO\n    return a + b\n\n'
            '# %% tags=["check"]\ncheck("99.add", add)\n',
            "sem '# END SOLUCAO'",
        ),
        (
            '# %% tags=["exercise"] exercise="99.add" points=1\ndef add(a, b):\n    # BEGIN SOLUÇÃO\n    return a + b\n    # END SOLUCAO\n\n'
            '# %% tags=["check"]\ncheck("99.add", add)\n',
            "marcador de solução malformado",
        ),
        (
            '# %% tags=["exercise"] exercise="99.add" points=1\ndef add(a, b):\n    # BEGIN SOLUCAO\n    return a + b\n    # END SOLUCAO\n\n'
            "# %%\nprint(1)\n",
            'deve ser seguido por uma célula # %% tags=["check"]',
        ),
        (
            '# %% tags=["exercise"] exercise="98.add" points=1\ndef add(a, b):\n    # BEGIN SOLUCAO\n    return a + b\n    # END SOLUCAO\n\n'
            '# %% tags=["check"]\ncheck("98.add", add)\n',
            "deve começar com '99.'",
        ),
        (
            '# %% tags=["exercise"] exercise="99.add" points=5\ndef add(a, b):\n    # BEGIN SOLUCAO\n    return a + b\n    # END SOLUCAO\n\n'
            '# %% tags=["check"]\ncheck("99.add", add)\n',
            "points=5 na fonte, mas points=1",
        ),
        (
            '# %% tags=["exercise"] exercise="99.nada" points=1\ndef nada(a, b):\n    # BEGIN SOLUCAO\n    return a + b\n    # END SOLUCAO\n\n'
            '# %% tags=["check"]\ncheck("99.nada", nada)\n',
            "exercício '99.nada' não encontrado",
        ),
    ],
    ids=["nivel-da-celula", "sem-end", "marcador-malformado", "sem-check", "prefixo-errado", "pontos", "nao-registrado"],
)
def test_invalid_sources_are_rejected(tmp_path, checks_env, capsys, body, message):
    source = tmp_path / "course" / "exercises" / "99_ruim.py"
    source.parent.mkdir(parents=True)
    source.write_text(GOOD_HEADER + "\n" + body, encoding="utf-8")
    assert build_main("--no-execute", "--source-dir", tmp_path / "course", "--out-dir", tmp_path / "out") == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "exercises").exists()


def test_exercise_markdown_needs_difficulty_and_time(tmp_path, checks_env, capsys):
    text = (FIXTURE_SOURCES / "exercises" / "99_toy.py").read_text(encoding="utf-8")
    source = tmp_path / "course" / "exercises" / "99_toy.py"
    source.parent.mkdir(parents=True)
    source.write_text(text.replace("Dificuldade ★☆☆ · ~2 min", "sem dificuldade"), encoding="utf-8")
    assert build_main("--no-execute", "--source-dir", tmp_path / "course", "--out-dir", tmp_path / "out") == 1
    assert "dificuldade" in capsys.readouterr().err


def test_stored_kernel_metadata_is_what_the_kernel_reports():
    """Abrir um notebook não o marca como modificado: os metadados guardados são os do kernel."""
    import platform

    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        reported = kc.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    for folder in ("notebooks", "exercises", "solutions"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            stored = dict(nbformat.read(path, as_version=4).metadata.language_info)
            if platform.python_version() != stored["version"]:  # outro Python: só a versão muda
                stored.pop("version"), reported.pop("version", None)
            assert stored == reported, f"{path.name}: language_info {stored} != kernel {reported}"
