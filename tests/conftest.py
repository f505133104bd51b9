"""Configuração comum dos testes."""
import os

# Os kernels que os testes iniciam (nbclient, nbval) herdam o ambiente: um MPLBACKEND=Agg
# vindo de fora trocaria o backend inline dos notebooks e as figuras não apareceriam.
os.environ.pop("MPLBACKEND", None)


NBVAL_MODULE = "test_notebooks_nbval"


def _nbval_items(items):
    return [i for i in items if hasattr(i, "callspec")
            and getattr(getattr(i, "module", None), "__name__", "").rsplit(".", 1)[-1] == NBVAL_MODULE]


def pytest_collection_modifyitems(session, config, items):
    """O nbval em várias famílias roda em segundo plano desde o começo; os testes dele vão para o
    fim, para o processo principal só esperar por eles depois de rodar todo o resto."""
    nbval = set(map(id, _nbval_items(items)))
    items.sort(key=lambda item: id(item) in nbval)  # estável: a ordem de cada grupo não muda


def pytest_collection_finish(session):
    items = _nbval_items(session.items)
    if items and not session.config.option.collectonly:
        items[0].module.start_in_background(items)


def pytest_sessionfinish(session):
    items = _nbval_items(session.items)
    if items:
        items[0].module.stop_background()
