"""Lakebench's side of the drop-in: its datagen Job contract (``job``), its config file
(``config_file``) and its Secrets (``secret``), each translated into this project's settings.
None of these modules imports Ray, boto3 or OmegaConf."""
