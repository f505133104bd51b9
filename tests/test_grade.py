"""Testes do corretor em lote (`python -m course_lib.grade`): a bateria original do 99_toy.

Respostas honestas (certas, erradas, parciais), trapaças (verificador redefinido,
`__eq__` mentiroso, respostas decoradas, importar o gabarito, ler arquivos do curso,
monkeypatch do torch...) e entregas quebradas (JSON inválido, células apagadas/
reordenadas, laço infinito, bomba de memória, processo que se mata, sys.exit,
apagar arquivos). Exercícios do 99_toy: 99.add (1 ponto) e 99.softmax (2 pontos).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grade_support import (COLUMNS, FIXTURE_SOURCES, STATUSES, _hashes, battery, build_toy, make_submission,
                           read_report, row, run_grader, text_of, total)

@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy")
    build_toy(out)
    return out


@pytest.fixture(scope="module")
def graded(toy, tmp_path_factory):
    """Roda o corretor uma vez sobre a bateria inteira."""
    work = tmp_path_factory.mktemp("correcao")
    submissions = work / "entregas"
    canary = work / "canario.txt"
    canary.write_text("não me apague\n", encoding="utf-8")
    exercise_nb = json.loads((toy / "exercises" / "99_toy.ipynb").read_text(encoding="utf-8"))
    solution_nb = json.loads((toy / "solutions" / "99_toy.ipynb").read_text(encoding="utf-8"))
    specs = battery(canary)
    for name, spec in specs.items():
        path = submissions / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make_submission(exercise_nb, solution_nb, spec))
    before = _hashes(submissions)
    out = work / "relatorio.csv"
    started = time.monotonic()
    result = run_grader(submissions, out, "--canonical", str(toy / "exercises"), "--seed", "12345")
    elapsed = time.monotonic() - started
    rows = read_report(out) if out.exists() else []
    by_sub: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_sub.setdefault(row["submission"], {})[row["exercise"]] = row
    return {"result": result, "rows": rows, "by": by_sub, "specs": specs, "before": before,
            "submissions": submissions, "canary": canary, "out": out, "elapsed": elapsed}


# ---------------------------------------------------------------------------
# Relatório e garantias gerais
# ---------------------------------------------------------------------------


def test_exit_status_and_every_submission_has_rows(graded):
    result = graded["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(graded["by"]) == set(graded["specs"]), result.stderr[-3000:]
    assert "Resumo por exercício" in result.stdout
    assert "semente dos casos ocultos: 12345" in result.stderr
    assert f"[{len(graded['specs'])}/{len(graded['specs'])}]" in result.stderr  # progresso


def test_csv_well_formed(graded):
    for r in graded["rows"]:
        assert r["status"] in STATUSES, r
        assert r["detail"] and "\n" not in r["detail"]
        assert 0 <= float(r["points"]) <= float(r["max_points"])
        if r["notebook"] == "99_toy":
            assert r["max_points"] == {"99.add": "1", "99.softmax": "2"}[r["exercise"]]
    identified = [s for s, ex in graded["by"].items() if "99.add" in ex]
    for name in identified:
        assert set(graded["by"][name]) == {"99.add", "99.softmax"}
    leftovers = [p.name for p in graded["out"].parent.iterdir() if p.name.startswith(".relatorio")]
    assert leftovers == []  # escrita atômica não deixa temporários


def test_submissions_unchanged_and_canary_alive(graded):
    assert _hashes(graded["submissions"]) == graded["before"]
    assert graded["canary"].read_text(encoding="utf-8") == "não me apague\n"


def test_runtime_is_reasonable(graded):
    assert graded["elapsed"] < 120, graded["elapsed"]


# ---------------------------------------------------------------------------
# Respostas honestas
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "honestas/certo.ipynb", "honestas/sem_metadados.ipynb", "honestas/metadados_adulterados.ipynb",
    "honestas/reordenado.ipynb", "honestas/com_extras.ipynb", "honestas/com_magicas.ipynb",
])
def test_solved_gets_full_marks(graded, name):
    for exercise in ("99.add", "99.softmax"):
        r = row(graded, name, exercise)
        assert r["status"] == "ok", r
        assert r["points"] == r["max_points"]
    assert total(graded, name) == 3


def test_notes_on_odd_but_valid_notebooks(graded):
    assert "fora da ordem" in row(graded, "honestas/reordenado.ipynb", "99.add")["detail"]
    assert "01_outro" in row(graded, "honestas/metadados_adulterados.ipynb", "99.add")["detail"]
    assert "metadados do curso ausentes" in row(graded, "honestas/sem_metadados.ipynb", "99.add")["detail"]


def test_unsolved_gets_zero(graded):
    for exercise in ("99.add", "99.softmax"):
        r = row(graded, "honestas/vazio.ipynb", exercise)
        assert r["status"] == "errado" and r["points"] == "0"
        assert "não resolvido" in r["detail"]


def test_wrong_answers_with_known_mistakes(graded):
    add = row(graded, "honestas/errado.ipynb", "99.add")
    softmax = row(graded, "honestas/errado.ipynb", "99.softmax")
    assert add["status"] == "errado" and "subtração no lugar de soma" in add["detail"]
    assert softmax["status"] == "errado" and softmax["points"] == "0"
    assert total(graded, "honestas/errado.ipynb") == 0


def test_partially_right(graded):
    assert row(graded, "honestas/parcial.ipynb", "99.add")["status"] == "ok"
    softmax = row(graded, "honestas/parcial.ipynb", "99.softmax")
    assert softmax["status"] == "errado" and "eixo errado" in softmax["detail"]
    assert total(graded, "honestas/parcial.ipynb") == 1


def test_exceptions_and_syntax_errors(graded):
    for name in ("honestas/excecao.ipynb", "honestas/sintaxe.ipynb"):
        assert row(graded, name, "99.add")["status"] == "erro"
        assert row(graded, name, "99.softmax")["status"] == "ok"
        assert total(graded, name) == 2
    assert "ValueError" in row(graded, "honestas/excecao.ipynb", "99.add")["detail"]
    assert "SyntaxError" in row(graded, "honestas/sintaxe.ipynb", "99.add")["detail"]


# ---------------------------------------------------------------------------
# Trapaças: nunca ganham mais que o conteúdo honesto (aqui, 0 em 99.add)
# ---------------------------------------------------------------------------

CHEATS = [
    "trapacas/check_redefinido.ipynb", "trapacas/eq_mentiroso.ipynb", "trapacas/decorado.ipynb",
    "trapacas/importa_gabarito.ipynb", "trapacas/registro.ipynb", "trapacas/sys_modules.ipynb",
    "trapacas/le_fonte.ipynb", "trapacas/le_solucoes.ipynb", "trapacas/le_checks.ipynb",
    "trapacas/disfarcada.ipynb", "trapacas/nativo.ipynb", "trapacas/monkeypatch.ipynb", "trapacas/subprocesso.ipynb",
    "trapacas/ambiente.ipynb", "trapacas/memoria_do_corretor.ipynb",
]


@pytest.mark.parametrize("name", CHEATS)
def test_cheats_earn_nothing(graded, name):
    r = row(graded, name, "99.add")
    assert r["points"] == "0", r
    assert r["status"] != "ok", r


@pytest.mark.parametrize("name", [c for c in CHEATS if c != "trapacas/decorado.ipynb"])
def test_cheats_are_flagged(graded, name):
    assert row(graded, name, "99.add")["status"] == "suspeito", row(graded, name, "99.add")


def test_importing_the_answer_key_is_blocked_at_runtime(graded):
    r = row(graded, "trapacas/importa_gabarito.ipynb", "99.add")
    assert "tentou importar course_lib.checks.nb99_toy" in r["flags"]
    assert r["auto_status"] == "erro"  # a importação falhou de verdade
    detail = text_of(row(graded, "trapacas/sys_modules.ipynb", "99.add"))
    assert "tentou importar course_lib.checks.nb99_toy" in detail


def test_disguised_read_is_caught_at_runtime(graded):
    detail = text_of(row(graded, "trapacas/disfarcada.ipynb", "99.add"))
    assert "tentou ler" in detail and "99_toy.py" in detail


def test_landlock_blocks_native_reads_when_available(graded):
    stderr = graded["result"].stderr
    if "proteção: Landlock ABI" not in stderr:
        pytest.skip("Landlock indisponível neste sistema")
    r = row(graded, "trapacas/nativo.ipynb", "99.add")
    assert r["auto_status"] == "erro"  # a leitura em C++ falhou
    assert "o sistema operacional recusou" in r["flags"]  # a recusa do núcleo vira motivo


def test_hard_coded_visible_cases_fail_hidden(graded):
    r = row(graded, "trapacas/decorado.ipynb", "99.add")
    assert r["status"] == "errado" and "resposta decorada" in r["detail"]


def test_solution_notebook_is_suspicious(graded):
    for exercise in ("99.add", "99.softmax"):
        r = row(graded, "trapacas/notebook_de_solucoes.ipynb", exercise)
        assert r["status"] == "suspeito" and r["points"] == "0"
        assert r["auto_status"] == "ok" and r["auto_points"] == r["max_points"]


def test_cheats_do_not_affect_other_exercises(graded):
    # o 99.softmax (não resolvido nas trapaças) continua 0 e errado, não suspeito
    for name in CHEATS:
        assert row(graded, name, "99.softmax")["status"] == "errado"


# ---------------------------------------------------------------------------
# Entregas quebradas: cada uma ganha as linhas dela; as outras seguem normais
# ---------------------------------------------------------------------------


def test_unreadable_notebooks_are_invalid(graded):
    for name in ("quebradas/json_invalido.ipynb", "quebradas/arquivo_vazio.ipynb", "quebradas/outro_notebook.ipynb"):
        rows = graded["by"][name]
        assert [r["status"] for r in rows.values()] == ["invalido"], rows
    rows = graded["by"]["quebradas/99_toy_corrompido.ipynb"]  # notebook deduzido pelo nome
    assert {r["exercise"]: r["status"] for r in rows.values()} == {"99.add": "invalido", "99.softmax": "invalido"}


def test_missing_cell(graded):
    assert row(graded, "quebradas/sem_celula_add.ipynb", "99.add")["status"] == "invalido"
    assert row(graded, "quebradas/sem_celula_add.ipynb", "99.softmax")["status"] == "ok"


@pytest.mark.parametrize("name", ["quebradas/laco_infinito.ipynb", "quebradas/laco_teimoso.ipynb",
                                  "quebradas/laco_na_celula.ipynb"])
def test_infinite_loops_time_out(graded, name):
    assert row(graded, name, "99.add")["status"] == "tempo_esgotado"
    assert row(graded, name, "99.softmax")["status"] == "ok"


@pytest.mark.parametrize("name", ["quebradas/bomba_de_memoria.ipynb", "quebradas/tensor_gigante.ipynb",
                                  "quebradas/mata_processo.ipynb", "quebradas/os_exit.ipynb",
                                  "quebradas/sys_exit.ipynb"])
def test_crashes_are_errors_and_the_rest_is_graded(graded, name):
    assert row(graded, name, "99.add")["status"] == "erro", row(graded, name, "99.add")
    assert row(graded, name, "99.softmax")["status"] == "ok", row(graded, name, "99.softmax")


def test_process_killing_itself_is_explained(graded):
    assert "SIGKILL" in row(graded, "quebradas/mata_processo.ipynb", "99.add")["detail"]
    assert "sys.exit" in row(graded, "quebradas/sys_exit.ipynb", "99.add")["detail"]


def test_deleting_files(graded):
    r = row(graded, "quebradas/apaga_arquivos.ipynb", "99.add")
    assert r["status"] == "suspeito" and "canario.txt" in r["flags"]
    assert row(graded, "quebradas/apaga_arquivos.ipynb", "99.softmax")["status"] == "ok"


# ---------------------------------------------------------------------------
# Outros modos: um interpretador por entrega, canônicos reconstruídos das fontes
# ---------------------------------------------------------------------------


def test_without_fork_server_and_from_sources(toy, tmp_path):
    exercise_nb = json.loads((toy / "exercises" / "99_toy.ipynb").read_text(encoding="utf-8"))
    solution_nb = json.loads((toy / "solutions" / "99_toy.ipynb").read_text(encoding="utf-8"))
    specs = battery(tmp_path / "canario.txt")
    submissions = tmp_path / "entregas"
    submissions.mkdir()
    for name in ("honestas/certo.ipynb", "quebradas/mata_processo.ipynb", "trapacas/importa_gabarito.ipynb"):
        (submissions / Path(name).name).write_bytes(make_submission(exercise_nb, solution_nb, specs[name]))
    out = tmp_path / "r.csv"
    result = run_grader(submissions, out, "--sources", str(FIXTURE_SOURCES), "--no-fork-server")
    assert result.returncode == 0, result.stderr[-3000:]
    by = {(r["submission"], r["exercise"]): r for r in read_report(out)}
    assert by[("certo.ipynb", "99.add")]["status"] == "ok"
    assert by[("certo.ipynb", "99.softmax")]["status"] == "ok"
    assert by[("mata_processo.ipynb", "99.add")]["status"] == "erro"
    assert by[("mata_processo.ipynb", "99.softmax")]["status"] == "ok"
    assert by[("importa_gabarito.ipynb", "99.add")]["status"] == "suspeito"
    assert "tentou importar course_lib.checks.nb99_toy" in by[("importa_gabarito.ipynb", "99.add")]["flags"]


def test_shards_split_the_folder_and_concatenate(toy, tmp_path):
    submissions = tmp_path / "entregas"
    for i in range(5):
        (submissions / f"aluno{i}").mkdir(parents=True)
        (submissions / f"aluno{i}" / "x.ipynb").write_bytes(b"nada")
    outs = []
    for k in (1, 2):
        out = tmp_path / f"r{k}.csv"
        result = run_grader(submissions, out, "--canonical", str(toy / "exercises"), "--shard", f"{k}/2")
        assert result.returncode == 0, result.stderr
        outs.append({r["submission"] for r in read_report(out)})
    assert outs[0] | outs[1] == {f"aluno{i}/x.ipynb" for i in range(5)}
    assert not outs[0] & outs[1]


def test_bad_arguments(tmp_path):
    result = run_grader(tmp_path / "nao_existe", tmp_path / "r.csv")
    assert result.returncode == 2 and "não encontrada" in result.stderr


# ---------------------------------------------------------------------------
# Unidades: análise estática e mágicas
# ---------------------------------------------------------------------------


def test_static_scan_is_quiet_on_honest_code():
    from course_lib.grade.static import scan

    honest = (
        "def attention(q, k, v, mask=None):\n"
        "    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5\n"
        "    if mask is not None:\n"
        "        scores = scores.masked_fill(~mask, float('-inf'))\n"
        "    hidden = torch.softmax(scores, dim=-1)\n"
        "    act = getattr(torch.nn.functional, 'gelu')\n"
        "    reference_logits = einops.einsum(hidden, v, 'b q k, b k d -> b q d')\n"
        "    return act(reference_logits)\n"
    )
    assert scan(honest) == []


@pytest.mark.parametrize("source, expected", [
    ("from course_lib.checks.nb01_x import f", "gabaritos"),
    ("import course_lib.checks as c", "gabaritos"),
    ("check = lambda *a: None", "verificador"),
    ("def check(*a):\n    pass", "verificador"),
    ("x = open('/etc/passwd').read()", "open"),
    ("torch.allclose = lambda *a, **k: True", "monkeypatch"),
    ("class A:\n    def __eq__(self, o):\n        return True", "__eq__"),
    ("import sys\nsys.modules['x'] = None", "sys.modules"),
    ("f = add.__globals__", "__globals__"),
    ("import gc\ngc.get_objects()", "gc"),
    ("import os\nos.environ['A'] = '1'", "os.environ"),
    ("__import__('os')", "__import__"),
    ("!cat /etc/passwd", "shell"),
    ("p = 'solutions/01.ipynb'", "caminho"),
    ("# BEGIN SOLUCAO\nx = 1\n# END SOLUCAO", "gabarito"),
    ("import inspect", "inspect"),
    ("import builtins\nbuiltins.print = None", "builtins"),
])
def test_static_scan_flags(source, expected):
    from course_lib.grade.static import scan

    reasons = scan(source)
    assert any(expected in r for r in reasons), reasons


def test_strip_magics():
    from course_lib.grade.notebooks import strip_magics

    code, removed = strip_magics("%matplotlib inline\nx = 1\nif x:\n    !ls\ny = !pwd\ntorch.softmax?\n")
    compile(code, "<x>", "exec")
    assert removed == ["%matplotlib inline", "!ls", "y = !pwd", "torch.softmax?"]
    code, removed = strip_magics("%%bash\nrm -rf /\n")
    assert code.strip() == "pass" and removed == ["%%bash"]
    code, _ = strip_magics("%%time\nx = 1\n")
    assert "x = 1" in code


def test_memory_limit_is_relative_to_what_the_process_already_maps(tmp_path):
    """O torch de CUDA do PyPI já nasce com ~3,1 GiB de memória virtual (bibliotecas mapeadas);
    com um RLIMIT_AS absoluto de 2 GiB, toda entrega dava erro. O limite é o que o processo já
    ocupa + `memory_bytes`: aqui 3 GiB mapeados (sem uso de RAM) simulam esse build."""
    code = (
        "import mmap, torch\n"
        "from course_lib.grade.child import _apply_process_limits\n"
        "hold = mmap.mmap(-1, 3 << 30)\n"
        "_apply_process_limits({'memory_bytes': 512 << 20, 'file_bytes': 1 << 26})\n"
        "small = torch.ones(64 << 20, dtype=torch.uint8)\n"
        "try:\n"
        "    big = torch.ones(1 << 30, dtype=torch.uint8)\n"
        "    print('sem limite')\n"
        "except (RuntimeError, MemoryError):\n"
        "    print('limitado')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "limitado"
