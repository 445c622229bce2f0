"""The gRPC face of the emulator: google.cloud.tasks.v2.CloudTasks on the protos google-cloud-tasks ships.

google-cloud-tasks ships no generated servicer, so the methods are registered as generic
handlers with the package's own message classes doing the (de)serialisation. Methods the
emulator does not implement (IAM, batch calls, CMEK) answer UNIMPLEMENTED, gRPC's default.
"""

import logging
from concurrent import futures

import grpc
from google.cloud.tasks_v2.types import cloudtasks
from google.protobuf import empty_pb2

from .engine import Engine
from .errors import ApiError

log = logging.getLogger(__name__)

SERVICE_NAME = "google.cloud.tasks.v2.CloudTasks"
_pb = {name: getattr(cloudtasks, name).pb() for name in dir(cloudtasks) if name.endswith(("Request", "Response"))}


class CloudTasksServicer:
    def __init__(self, engine: Engine):
        self._engine = engine

    def ListQueues(self, request, context):
        queues, token = self._engine.list_queues(request.parent, request.filter, request.page_size, request.page_token)
        return _pb["ListQueuesResponse"](queues=queues, next_page_token=token)

    def GetQueue(self, request, context):
        return self._engine.get_queue(request.name)

    def CreateQueue(self, request, context):
        return self._engine.create_queue(request.parent, request.queue)

    def UpdateQueue(self, request, context):
        return self._engine.update_queue(request.queue, request.update_mask)

    def DeleteQueue(self, request, context):
        self._engine.delete_queue(request.name)
        return empty_pb2.Empty()

    def PurgeQueue(self, request, context):
        return self._engine.purge_queue(request.name)

    def PauseQueue(self, request, context):
        return self._engine.pause_queue(request.name)

    def ResumeQueue(self, request, context):
        return self._engine.resume_queue(request.name)

    def ListTasks(self, request, context):
        tasks, token = self._engine.list_tasks(request.parent, request.response_view, request.page_size, request.page_token)
        return _pb["ListTasksResponse"](tasks=tasks, next_page_token=token)

    def GetTask(self, request, context):
        return self._engine.get_task(request.name, request.response_view)

    def CreateTask(self, request, context):
        return self._engine.create_task(request.parent, request.task, request.response_view)

    def DeleteTask(self, request, context):
        self._engine.delete_task(request.name)
        return empty_pb2.Empty()

    def RunTask(self, request, context):
        return self._engine.run_task(request.name, request.response_view)


def _guarded(method):
    """Turns an ApiError into its gRPC status, and anything unexpected into INTERNAL."""

    def handle(request, context):
        try:
            return method(request, context)
        except ApiError as error:
            context.abort(error.code, error.message)
        except Exception:
            log.exception("%s failed", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"emulator error in {method.__name__}")

    return handle


def _serialize(message) -> bytes:
    return message.SerializeToString()


def _handlers(servicer: CloudTasksServicer) -> grpc.GenericRpcHandler:
    handlers = {}
    for method in ("ListQueues", "GetQueue", "CreateQueue", "UpdateQueue", "DeleteQueue", "PurgeQueue", "PauseQueue",
                   "ResumeQueue", "ListTasks", "GetTask", "CreateTask", "DeleteTask", "RunTask"):
        request_type = _pb[f"{method}Request"]
        handlers[method] = grpc.unary_unary_rpc_method_handler(
            _guarded(getattr(servicer, method)),
            request_deserializer=request_type.FromString,
            response_serializer=_serialize,
        )
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


class GrpcServer:
    """The gRPC server on host:port (port 0 picks a free one) with its own thread pool."""

    def __init__(self, engine: Engine, host: str, port: int, threads: int = 16):
        self._executor = futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cloudtasks-grpc")
        # so_reuseport off: a port already taken must fail here, not be shared.
        self._server = grpc.server(self._executor, options=[("grpc.so_reuseport", 0)])
        self._server.add_generic_rpc_handlers((_handlers(CloudTasksServicer(engine)),))
        try:
            self.port = self._server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as exc:
            self.port = 0
            error = exc
        else:
            error = None
        if self.port == 0:
            self._executor.shutdown(wait=False)
            raise OSError(f"cannot bind the Cloud Tasks emulator to {host}:{port}: {error or 'port unavailable'}")
        self._server.start()

    def stop(self, grace: float) -> None:
        """Refuses new calls, lets calls under way finish for up to `grace` seconds, ends the threads."""
        self._server.stop(grace).wait(grace + 1.0)
        self._executor.shutdown(wait=True, cancel_futures=True)
