"""Stage read: bytes -> table of strings (kept columns only), with the source line of every row.

Encoding is detected (BOM; valid UTF-8; else the mapping's legacy encoding), never trusted blindly.
The header is found by its column names (title lines above it are skipped), summary lines below
the data are cut, and only the columns the mapping names are materialised: everything else (bank
data, rents, birth dates) is dropped while parsing. Parsing is pyarrow's multi-threaded CSV
reader; the physical line of each record is computed on the whole byte buffer with numpy
(newlines outside quotes end records). Files with ragged rows take a slower exact path through
the standard library's csv module, which reports each bad row by line.
"""

from typing import TYPE_CHECKING

from etl.core import lazy

if TYPE_CHECKING:
    from etl.stages.read.header import normalise_header
    from etl.stages.read.raw import body_digest, head_of
    from etl.stages.read.table import finish, read_table

# imported when first used: the check for the same lines again (`raw`) runs without pandas
__all__ = ["body_digest", "finish", "head_of", "normalise_header", "read_table"]
__getattr__ = lazy.names(__name__, {"body_digest": "raw", "head_of": "raw",
                                    "normalise_header": "header", "finish": "table",
                                    "read_table": "table"})
