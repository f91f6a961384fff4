"""The root types, assembled into one `strawberry.Schema`."""

from importlib.metadata import PackageNotFoundError, version

import strawberry


def _server_version() -> str:
    try:
        return version("gql-server")
    except PackageNotFoundError:
        return "0.0.0"


@strawberry.type
class Query:
    @strawberry.field(description="The version of the server answering.")
    def server_version(self) -> str:
        return _server_version()


schema = strawberry.Schema(query=Query)
