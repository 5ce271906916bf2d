"""The pure generation core: schema, vocabularies, seeding, column builders and the file plan.

It imports only numpy and pyarrow (never Ray, boto3 or OmegaConf), so it runs anywhere and a
file is a pure function of (parameters, file id).
"""

from . import profiles
from .columns import build_row_group, file_row_groups
from .loyalty import build_loyalty_table
from .params import FORMAT_REVISION, GENERATOR_VERSION, GenParams
from .plan import FilePlan, file_key, file_name, num_files_for_scale, row_group_rows, row_groups
from .schema import COLUMN_NAMES, SCHEMA

__all__ = [
    "COLUMN_NAMES",
    "FORMAT_REVISION",
    "GENERATOR_VERSION",
    "FilePlan",
    "GenParams",
    "SCHEMA",
    "build_loyalty_table",
    "build_row_group",
    "file_key",
    "file_name",
    "file_row_groups",
    "num_files_for_scale",
    "profiles",
    "row_group_rows",
    "row_groups",
]
