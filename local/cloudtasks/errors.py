"""The one error type the emulator raises for a refused API call."""

import grpc


class ApiError(Exception):
    """A call refused with a gRPC status code, as Cloud Tasks would refuse it."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def not_found(message: str = "Requested entity was not found.") -> ApiError:
    return ApiError(grpc.StatusCode.NOT_FOUND, message)


def invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def already_exists(message: str = "Requested entity already exists") -> ApiError:
    return ApiError(grpc.StatusCode.ALREADY_EXISTS, message)


def failed_precondition(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, message)


def unimplemented(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.UNIMPLEMENTED, message)


# Production's wording for a queue that does not exist (also for one deleted recently).
QUEUE_NOT_FOUND = (
    "Queue does not exist. If you just created the queue, wait at least a minute for the queue to initialize."
)
