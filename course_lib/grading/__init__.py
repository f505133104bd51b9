"""Peças do corretor em lote (`python -m course_lib.grade`).

* `notebooks`: notebooks canônicos, leitura das entregas e extração das respostas;
* `static`: sinais de trapaça na fonte das respostas (-> `suspeito`);
* `runner`: processo isolado do aluno, vigia de tempo e novas tentativas;
* `child`: o script que roda no processo do aluno (nunca importado pelo corretor).
"""
