#!/usr/bin/python3
"""gRPC peers for the L7 HTTP/2 recordings (python3-grpcio, Debian's /usr/bin/python3).

  grpc_echo.py server --port P --gen DIR [--ready FILE]
  grpc_echo.py client --port P --gen DIR
DIR holds the stubs generated from echo.proto (`python3 -m grpc_tools.protoc`). The client
makes, over one channel (one HTTP/2 connection): Say("hello") -> OK, Say("missing") ->
NOT_FOUND, Count("three") -> three streamed messages then OK, Say("bye") -> OK.
"""

import argparse
import sys
from concurrent import futures


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--gen", required=True)
    p.add_argument("--ready")
    args = p.parse_args()
    sys.path.insert(0, args.gen)
    import grpc
    import echo_pb2
    import echo_pb2_grpc

    if args.mode == "server":
        class Echo(echo_pb2_grpc.EchoServicer):
            def Say(self, req, ctx):
                if req.text == "missing":
                    ctx.abort(grpc.StatusCode.NOT_FOUND, "no such text: missing")
                return echo_pb2.Msg(text="echo:" + req.text)

            def Count(self, req, ctx):
                for i in range(3):
                    yield echo_pb2.Msg(text=f"{req.text}:{i}")

        srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        echo_pb2_grpc.add_EchoServicer_to_server(Echo(), srv)
        srv.add_insecure_port(f"127.0.0.1:{args.port}")
        srv.start()
        if args.ready:
            open(args.ready, "w").close()
        srv.wait_for_termination()
        return

    with grpc.insecure_channel(f"127.0.0.1:{args.port}") as ch:
        stub = echo_pb2_grpc.EchoStub(ch)
        print(stub.Say(echo_pb2.Msg(text="hello")).text)
        try:
            stub.Say(echo_pb2.Msg(text="missing"))
            sys.exit("Say(missing) did not fail")
        except grpc.RpcError as e:
            print(e.code())
            if e.code() != grpc.StatusCode.NOT_FOUND:
                sys.exit(f"Say(missing): {e.code()}")
        print([m.text for m in stub.Count(echo_pb2.Msg(text="three"))])
        print(stub.Say(echo_pb2.Msg(text="bye"), metadata=[
            ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]).text)


if __name__ == "__main__":
    main()
