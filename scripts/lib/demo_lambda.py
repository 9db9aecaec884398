"""A Lambda front for the demo: moto's Docker-less Lambda answers 202 even for functions that
were never created, so this answers Invoke like real Lambda does (404 ResourceNotFoundException
for a function that does not exist) and hands every other call on to moto."""

import http.server
import json
import sys
import urllib.parse
import urllib.request

import boto3

MOTO = sys.argv[1]
lam = boto3.client("lambda", endpoint_url=MOTO, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")


class Front(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        parts = self.path.split("?")[0].split("/")
        name = urllib.parse.unquote(parts[3]) if len(parts) > 4 and parts[4] == "invocations" else None
        if name is not None:
            try:
                lam.get_function(FunctionName=name)
            except lam.exceptions.ResourceNotFoundException:
                message = json.dumps({"Type": "User", "message": f"Function not found: {name}"}).encode()
                self.send_response(404)
                self.send_header("x-amzn-ErrorType", "ResourceNotFoundException")
                self.send_header("x-amzn-RequestId", "demo-404")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                self.wfile.write(message)
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(MOTO + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req) as resp:
                status, out, resp_headers = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, out, resp_headers = e.code, e.read(), e.headers
        self.send_response(status)
        for k, v in resp_headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Front)
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
