"""The bundled artefacts (data/ in the repository), installed as the package `vitlib.bundled`.

Nothing to import here: vitlib finds the files through importlib.resources
(`vitlib.checkpoints.pretrained`), so they work from any working directory and in Colab.
See README.md in this folder for where each file comes from.
"""
