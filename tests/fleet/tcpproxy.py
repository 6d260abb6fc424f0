"""A TCP proxy in front of the test's PostgreSQL server, one per vigild
host, that a test can pause (a black hole: connections stay open, nothing
passes either way, new connections are accepted and hang), resume, or kill
(every connection reset, new ones refused) and restart on the same port.

    proxy = TcpProxy(pg.port)        # listens on 127.0.0.1:proxy.port
    proxy.pause(); ...; proxy.resume()
    proxy.kill(); ...; proxy.restart()
    proxy.close()

Threads, one per direction of each connection; a paused pump holds what it
has read and reads nothing more, so the sender's buffers fill as they would
behind a dead link.
"""

import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.running = threading.Event()
        self.running.set()
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        self.port = 0
        self.closed = False
        self._listen()

    # --- control ---

    def pause(self):
        """Black hole: nothing passes, nothing is closed."""
        self.running.clear()

    def resume(self):
        self.running.set()

    def kill(self):
        """Every connection reset; the port refuses until restart()."""
        self._stop_listening()
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                # RST rather than FIN: a dead link, not a polite close.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass

    def restart(self):
        self.running.set()
        self._listen(self.port)

    def close(self):
        self.closed = True
        self.running.set()
        self.kill()

    # --- inside ---

    def _listen(self, port=0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _stop_listening(self):
        s, self.listener = self.listener, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if listener is not self.listener:
                client.close()
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, src, dst):
        while True:
            self.running.wait()
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            # Paused while this was in hand: held until resumed (or killed).
            self.running.wait()
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
