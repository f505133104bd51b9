"""Corretor, seção 4: o que o instrutor entrega (boletim, revisão, devolutivas, sidecar, notas manuais).

Uma turma pequena no formato do Moodle (uma pasta por aluno) com o notebook 99_toy:
ana entrega duas vezes (`99_toy.ipynb` e `99_toy (1).ipynb`), bruno entrega uma
resposta parcial, carla redefine o verificador (suspeito), edu tem um diagnóstico longo;
davi está na lista da turma e não entregou. A turma é corrigida duas vezes no mesmo
lugar: a segunda com `--excel --credito-parcial`, depois de o instrutor escrever
`notas_manuais.csv`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from course_lib.grade.reports import student_of
from grade_support import (ADD_OK, SOFTMAX_NO_MAX, SOFTMAX_OK, build_toy, make_submission, read_report,
                           run_grader)

MOODLE = "{name}_{id}_assignsubmission_file_"
LONG = "diagnóstico comprido " * 40 + "FIM-DO-DIAGNÓSTICO"
STUDENTS = {
    "Ana Souza": ("1001", {"99_toy.ipynb": {"add": ADD_OK, "softmax": SOFTMAX_OK},
                           "99_toy (1).ipynb": {"add": ADD_OK, "softmax": SOFTMAX_NO_MAX}}),
    "Bruno Lima": ("1002", {"99_toy.ipynb": {"add": ADD_OK, "softmax": SOFTMAX_NO_MAX}}),
    "Carla Dias": ("1003", {"99_toy.ipynb": {"add": "check = lambda *a, **k: None\n" + ADD_OK, "softmax": SOFTMAX_OK}}),
    "Edu Reis": ("1004", {"99_toy.ipynb": {"add": ADD_OK, "softmax": SOFTMAX_OK.replace(
        "    z = logits", f"    raise ValueError({LONG!r})\n    z = logits")}}),
}
ROSTER = "aluno,nome\nana.souza,Ana Souza\nbruno.lima,Bruno Lima\ncarla.dias,Carla Dias\ndavi.melo,Davi Melo\nedu.reis,Edu Reis\n"


def _read(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> list[dict]:
    with open(path, encoding=encoding, newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


@pytest.fixture(scope="module")
def turma(tmp_path_factory):
    work = tmp_path_factory.mktemp("boletim")
    toy = work / "toy"
    build_toy(toy)
    exercise_nb = json.loads((toy / "exercises" / "99_toy.ipynb").read_text(encoding="utf-8"))
    solution_nb = json.loads((toy / "solutions" / "99_toy.ipynb").read_text(encoding="utf-8"))
    submissions = work / "entregas"
    for name, (sid, files) in STUDENTS.items():
        for filename, spec in files.items():
            path = submissions / MOODLE.format(name=name, id=sid) / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(make_submission(exercise_nb, solution_nb, spec))
    (work / "alunos.csv").write_text(ROSTER, encoding="utf-8")
    out = work / "notas" / "relatorio.csv"
    common = ["--canonical", str(toy / "exercises"), "--seed", "4242", "--layout", "moodle",
              "--roster", str(work / "alunos.csv")]
    first = run_grader(submissions, out, *common)
    snapshot = {
        "report": read_report(out) if out.exists() else [],
        "gradebook": _read(out.with_name("relatorio.boletim.csv")) if first.returncode == 0 else [],
        "review": _read(out.with_name("relatorio.revisao.csv")) if first.returncode == 0 else [],
        "sidecar": json.loads(out.with_name("relatorio.json").read_text(encoding="utf-8")) if first.returncode == 0 else {},
        "feedback": {p.name: p.read_text(encoding="utf-8") for p in out.with_name("relatorio_devolutivas").glob("*.txt")},
        "raw": out.read_bytes() if out.exists() else b"",
    }
    # o instrutor revisa: nota manual para bruno (pelo id da lista da turma) e para carla (pelo nome do caminho)
    (out.parent / "notas_manuais.csv").write_text(
        "aluno;exercicio;pontos;comentario\nbruno.lima;99.softmax;1,5;revisado à mão\n"
        "Carla Dias;99.add;1;conversamos: o check redefinido era um teste dela\n", encoding="utf-8")
    second = run_grader(submissions, out, *common, "--excel", "--credito-parcial")
    after_second = {"report": _read(out, ";", "utf-8-sig") if second.returncode == 0 else []}
    # recorrigir só a pasta de bruno, mesclando com o relatório que já existe
    bruno = submissions / MOODLE.format(name="Bruno Lima", id="1002")
    third = run_grader(bruno, out, *common, "--excel", "--credito-parcial", "--base", str(submissions), "--mesclar")
    return {"first": first, "second": second, "third": third, "after_second": after_second, "out": out,
            "work": work, **snapshot}


def _gradebook_by_student(rows):
    return {r["aluno"]: r for r in rows}


def test_grader_finished_both_times(turma):
    assert turma["first"].returncode == 0, turma["first"].stderr[-3000:]
    assert turma["second"].returncode == 0, turma["second"].stderr[-3000:]


def test_gradebook_has_one_row_per_student_and_roster_absentees(turma):
    book = _gradebook_by_student(turma["gradebook"])
    assert list(book) == ["ana.souza", "bruno.lima", "carla.dias", "davi.melo", "edu.reis"]
    assert book["ana.souza"]["nome"] == "Ana Souza"
    assert book["davi.melo"]["situacao"] == "não entregou" and book["davi.melo"]["99_toy"] == ""
    assert book["davi.melo"]["total"] == "0" and book["davi.melo"]["total_max"] == "3"
    assert book["carla.dias"]["situacao"] == "revisar"


def test_duplicate_submission_counts_once_by_the_stated_rule(turma):
    book = _gradebook_by_student(turma["gradebook"])
    # 99_toy.ipynb vale 3 pontos e 99_toy (1).ipynb vale 1: vale a de mais pontos, não a soma (4)
    assert book["ana.souza"]["99_toy"] == "3" and book["ana.souza"]["total"] == "3"
    dup = [r for r in turma["review"] if r["tipo"] == "duplicata"]
    assert len(dup) == 1 and dup[0]["submission"].endswith("99_toy (1).ipynb"), turma["review"]
    assert dup[0]["submission"].split("/")[0] == MOODLE.format(name="Ana Souza", id="1001")
    assert "mais pontos" in dup[0]["motivo"] and dup[0]["aluno"] == "Ana Souza"
    assert "mais pontos" in turma["sidecar"]["duplicate_rule"]


def test_student_comes_from_the_moodle_path(turma):
    students = {r["submission"].split("/")[0]: r["student"] for r in turma["report"]}
    assert students == {MOODLE.format(name=n, id=i): n for n, (i, _) in STUDENTS.items()}


def test_review_queue_lists_the_suspicious_row(turma):
    carla = [r for r in turma["review"] if r["aluno"] == "Carla Dias" and r["tipo"] != "fonte igual"]
    assert [(r["exercise"], r["tipo"]) for r in carla] == [("99.add", "suspeito")]
    assert "check" in carla[0]["motivo"] and carla[0]["auto_status"] == "ok"


def test_feedback_files_have_the_untruncated_diagnostic(turma):
    files = turma["feedback"]
    assert len(files) == 5  # uma devolutiva por entrega (ana tem duas)
    (edu,) = [text for name, text in files.items() if name.startswith("Edu_Reis")]
    assert LONG in edu and "FIM-DO-DIAGNÓSTICO" in edu
    report = {(r["student"], r["exercise"]): r for r in turma["report"]}
    detail = report[("Edu Reis", "99.softmax")]["detail"]
    assert "FIM-DO-DIAGNÓSTICO" not in detail and detail.endswith("…")  # no CSV, o diagnóstico é cortado
    assert "== 99.softmax: erro (0/2 pts)" in edu and "Pontos: 1 de 3" in edu
    (carla,) = [text for name, text in files.items() if name.startswith("Carla_Dias")]
    assert "em revisão pelo instrutor; resultado automático: ok" in carla


def test_sidecar_records_seed_commit_options_and_protection(turma):
    side = turma["sidecar"]
    assert side["seed"] == 4242
    assert side["commit"] and side["commit"] != "desconhecido"
    assert "Landlock" in side["protection"] or "SEM caixa de areia" in side["protection"]
    assert side["options"]["layout"] == "moodle" and side["options"]["credito_parcial"] is False
    assert side["options"]["excel"] is False and side["submissions"] == 5
    assert {r["seed"] for r in turma["report"]} == {"4242"}  # a semente também no CSV


def test_partial_credit_is_off_by_default(turma):
    (bruno,) = [r for r in turma["report"] if r["student"] == "Bruno Lima" and r["exercise"] == "99.softmax"]
    assert bruno["status"] == "errado" and bruno["points"] == "0"
    assert 0 < int(bruno["hidden_passed"]) < int(bruno["hidden_total"]), bruno


def test_default_csv_is_comma_utf8_without_bom(turma):
    assert not turma["raw"].startswith(b"\xef\xbb\xbf")
    assert turma["raw"].split(b"\n", 1)[0].startswith(b"submission,student,")


def test_excel_option_writes_semicolons_bom_and_decimal_comma(turma):
    out = turma["out"]
    for path in (out, out.with_name("relatorio.boletim.csv"), out.with_name("relatorio.revisao.csv")):
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), path.name
        header = raw[3:].split(b"\n", 1)[0].decode("utf-8")
        assert ";" in header and "," not in header, (path.name, header)
    book = _gradebook_by_student(_read(out.with_name("relatorio.boletim.csv"), ";", "utf-8-sig"))
    assert book["bruno.lima"]["total"] == "2,5"  # 1 + 1,5 (nota manual), com vírgula decimal


def test_manual_scores_survive_regrading(turma):
    rows = {(r["student"], r["exercise"]): r for r in turma["after_second"]["report"]}
    bruno = rows[("Bruno Lima", "99.softmax")]
    assert bruno["points"] == "1,5" and "nota manual do instrutor: revisado à mão" in bruno["detail"]
    assert bruno["auto_status"] == "errado"  # o resultado automático continua à vista
    carla = rows[("Carla Dias", "99.add")]
    assert carla["points"] == "1" and carla["status"] == "suspeito"
    book = _gradebook_by_student(_read(turma["out"].with_name("relatorio.boletim.csv"), ";", "utf-8-sig"))
    assert book["carla.dias"]["total"] == "3" and book["carla.dias"]["situacao"] == "ok"  # revisada à mão


def test_partial_credit_option_gives_points_times_cases(turma):
    rows = {(r["student"], r["exercise"]): r for r in turma["after_second"]["report"]}
    edu = rows[("Edu Reis", "99.softmax")]
    assert edu["status"] == "erro" and edu["points"] == "0"  # nenhum caso certo: nada a creditar
    (dup,) = [r for r in turma["after_second"]["report"] if r["submission"].endswith("99_toy (1).ipynb") and r["exercise"] == "99.softmax"]
    passed, n = int(dup["hidden_passed"]), int(dup["hidden_total"])
    assert dup["status"] == "errado" and 0 < passed < n
    assert float(dup["points"].replace(",", ".")) == pytest.approx(2 * passed / n, abs=0.01)  # pontos × casos certos
    side = json.loads(turma["out"].with_name("relatorio.json").read_text(encoding="utf-8"))
    assert side["options"]["credito_parcial"] is True and side["options"]["excel"] is True


@pytest.mark.parametrize("path, layout, expected", [
    ("Ana Souza_1001_assignsubmission_file_/99_toy.ipynb", "moodle", "Ana Souza"),
    ("Ana Souza - 99_toy.ipynb", "classroom", "Ana Souza"),
    ("souzaana_1001_555_99_toy.ipynb", "canvas", "souzaana_1001"),
    ("souzaana_late_1001_556_99_toy-1.ipynb", "canvas", "souzaana_1001"),
    ("ana/99_toy (1).ipynb", "pasta", "ana"),
    ("Ana Souza_1001_assignsubmission_file_/99_toy.ipynb", "auto", "Ana Souza"),
])
def test_layout_presets(path, layout, expected):
    assert student_of(path, layout) == expected


def test_regrading_one_student_folder_merges_by_the_same_submission_key(turma):
    assert turma["third"].returncode == 0, turma["third"].stderr[-3000:]
    before = {(r["submission"], r["exercise"]) for r in turma["after_second"]["report"]}
    rows = _read(turma["out"], ";", "utf-8-sig")
    assert {(r["submission"], r["exercise"]) for r in rows} == before  # mesmas chaves: nada duplicado, nada perdido
    by = {(r["submission"].split("/")[0], r["exercise"]): r for r in rows if "(1)" not in r["submission"]}
    assert by[(MOODLE.format(name="Bruno Lima", id="1002"), "99.softmax")]["points"] == "1,5"  # recorrigido agora
    carla = by[(MOODLE.format(name="Carla Dias", id="1003"), "99.add")]  # relida do relatório anterior
    assert carla["points"] == "1" and carla["detail"].count("nota manual do instrutor") == 1
    book = _gradebook_by_student(_read(turma["out"].with_name("relatorio.boletim.csv"), ";", "utf-8-sig"))
    assert book["ana.souza"]["total"] == "3" and book["carla.dias"]["situacao"] == "ok"
    assert book["bruno.lima"]["total"] == "2,5" and book["davi.melo"]["situacao"] == "não entregou"
