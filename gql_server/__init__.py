"""gql_server: a multi-tenant GraphQL API server over PostgreSQL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gql-server")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
