"""Corretor em lote dos notebooks de exercícios do curso.

    python -m course_lib.grade PASTA_DAS_ENTREGAS --out RELATORIO.csv [--jobs N] [--timeout SEGUNDOS]
    python -m course_lib.grade --aluno exercises/          # autoconferência do aluno

Lê todos os ``.ipynb`` da pasta, descobre qual notebook de exercícios cada um é,
roda SÓ as células de exercício do aluno (e as definições das células extras dele)
dentro do notebook canônico, num processo isolado, com casos ocultos, e escreve o
relatório, o boletim, a fila de revisão, as devolutivas e o arquivo de reprodução.

Partes (cada uma faz uma coisa):

* `notebooks`: notebooks canônicos, leitura das entregas e extração das respostas;
* `static`: o que o código das respostas FAZ (não o que os comentários dizem) -> `suspeito`;
* `sandbox`: limites, Landlock, nível de proteção, servidor de fork e processos;
* `child`: o script que roda no processo do aluno (nunca importado pelo corretor);
* `protocol`: tentativas, eventos do processo do aluno (todos forjáveis) e vigia;
* `judging`: casos ocultos, gabarito e a nota (só no processo do corretor);
* `reports`: relatório CSV, boletim, devolutivas, fila de revisão, reprodução;
* `cli`: a linha de comando que junta tudo.

Detalhes, garantias e limites: ``docs/instrutores.md``.
"""

from .cli import build_parser, grade, main

__all__ = ["build_parser", "grade", "main"]
