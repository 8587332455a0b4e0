"""Model folders: the components the app knows, their MANIFEST.json hashes, and getting them in place.

- ``registry``: every component (files, sizes, licence, source, where it goes under the model folder);
  ``status``: where each stands in a model folder (present, verified, missing, ...).
- ``manifest``: ``MANIFEST.json`` (sha256, size, licence, source per file), verification, safe loading.
- ``import_detect`` / ``importer``: what a file or folder a user has is, and placing it (checked first).
- ``convert``: the authors' public pickle checkpoints -> safetensors folders.
- ``download``: a component's published files, only when a person asks (resumable).
- ``assemble``: the full profile's imported parts -> one loadable TFGNet folder.
- ``cli``: ``tfgnet-desk models list | verify | import | download``.

Nothing in this package touches the network except ``download``, and only when asked.
"""
