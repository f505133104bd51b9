"""Configuração comum dos testes."""
import os

# Os kernels que os testes iniciam (nbclient, nbval) herdam o ambiente: um MPLBACKEND=Agg
# vindo de fora trocaria o backend inline dos notebooks e as figuras não apareceriam.
os.environ.pop("MPLBACKEND", None)
