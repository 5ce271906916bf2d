"""Arrow row groups to streaming Parquet, and the calibration of rows per file."""

from .calibrate import Calibration, calibrate
from .parquet import WrittenFile, file_metadata, write_file, writer_options

__all__ = ["Calibration", "WrittenFile", "calibrate", "file_metadata", "write_file", "writer_options"]
