"""Mede o que vale a promessa "re-treina bit a bit": re-treina um checkpoint nesta máquina
(com a família de kernels de CPU do ambiente: ATEN_CPU_CAPABILITY, MKL_CBWR) e compara com o
que está no repositório — pesos (idênticos? maior diferença) e métricas.

    python tools/measure_retrain.py lm            # uma linha JSON
    ATEN_CPU_CAPABILITY=avx2 python tools/measure_retrain.py induction
"""
import json
import sys

import torch

from course_lib import PtGrammar, load_pretrained
from course_lib.pretrained import load_metadata
from course_lib import recipes


def retrain(name: str):
    if name == "induction":
        model, _ = recipes.train_induction(progress=False)
        return model, recipes.induction_metrics(model)
    if name == "lm_icl":
        model, _ = recipes.train_lm_icl(progress=False)
        return model, recipes.lm_icl_metrics(model)
    cfg = recipes.LM_CFG if name == "lm" else {**recipes.TIED_CFG, "tie_embeddings": name == "lm_tied"}
    args = recipes.LM_TRAIN if name == "lm" else recipes.TIED_TRAIN
    model, _ = recipes.train_lm(cfg, args, progress=False)
    return model, recipes.lm_metrics(model, PtGrammar())


def main(name: str) -> dict:
    torch.set_num_threads(1)
    shipped = load_pretrained(name).state_dict()
    model, metrics = retrain(name)
    fresh = model.state_dict()
    identical = all(torch.equal(shipped[k], fresh[k]) for k in shipped)
    max_diff = max(float((shipped[k].float() - fresh[k].float()).abs().max()) for k in shipped)
    stored = load_metadata(name)["metrics"]
    return {"name": name, "cpu": torch.backends.cpu.get_cpu_capability(), "identical": identical,
            "max_weight_diff": max_diff, "metrics": metrics, "stored_metrics": stored}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
