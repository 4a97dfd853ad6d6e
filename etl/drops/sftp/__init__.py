"""SFTP drops (paramiko): the connection and host key trust (`connection`), the operations
(`drop`). paramiko lives in this package and nowhere else."""

from etl.drops.sftp.connection import HostKeyCheck, check_host_key, trust_host_key
from etl.drops.sftp.drop import SftpDrop

__all__ = ["HostKeyCheck", "SftpDrop", "check_host_key", "trust_host_key"]
