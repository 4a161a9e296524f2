#!/usr/bin/env python3
"""What can be checked of the Docker image without a Docker daemon.

This machine (and CI) has neither a daemon nor a registry to pull the base
images from, so the image itself is not built here. What decides whether the
runtime stage works can be checked from the files alone:

1. Every shared library the cliproxy binary needs (its ELF NEEDED entries,
   less the Swift runtime that `--static-swift-stdlib` links in) belongs to a
   Debian package the runtime stage installs, or to one debian:bookworm-slim
   already has.
2. The build stage installs the -dev package of each system library target in
   Package.swift, and the runtime stage installs ca-certificates (TLS to the
   providers).
3. Every path the Dockerfile copies exists, and docker/config.yaml is read by
   the binary as the image runs it: with --require-api-keys and its empty
   `api-keys` it must refuse to start (exit 1), and with a key it must start.

    python3 scripts/docker_check.py .build/debug/cliproxy
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Linked statically by `swift build --static-swift-stdlib`.
SWIFT_RUNTIME = re.compile(r"^lib(swift|_?Foundation|FoundationEssentials|FoundationInternationalization|dispatch|BlocksRuntime)")
# Present in debian:bookworm-slim (essential packages and apt's dependencies).
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}

failures = []


def fail(message):
    failures.append(message)
    print("FAIL", message)


def stages(dockerfile):
    """[(from-line, [apt packages installed in that stage])]."""
    out = []
    text = dockerfile.replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("FROM "):
            out.append((line, []))
        elif line.startswith("RUN ") and out:
            m = re.search(r"apt-get install ([^&]*)", line)
            if m:
                out[-1][1].extend(w for w in m.group(1).split() if not w.startswith("-"))
    return out


def needed(binary):
    text = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", text)


def package_of(soname):
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^\s+%s \(libc6,x86-64[^)]*\) => (\S+)" % re.escape(soname), cache, re.M)
    if not m:
        return None
    for path in (m.group(1), os.path.realpath(m.group(1))):
        r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_config(binary, yaml_text, expect_start):
    """Runs the binary on a copy of docker/config.yaml as the image does."""
    work = tempfile.mkdtemp()
    try:
        port = free_port()
        # The image's paths, moved into a temp dir; loopback so nothing listens beyond this machine.
        text = (yaml_text.replace("/opt/cliproxy/Rules", os.path.join(ROOT, "Rules"))
                .replace("/data/auth", os.path.join(work, "auth"))
                .replace('host: "0.0.0.0"', 'host: "127.0.0.1"'))
        text = re.sub(r"^port: \d+", "port: %d" % port, text, flags=re.M)
        path = os.path.join(work, "config.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.Popen([binary, "--config", path, "--require-api-keys"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if not expect_start:
            try:
                out, _ = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                return fail("the image's config without api-keys did not refuse to start")
            if p.returncode != 1 or "api-keys" not in out:
                fail("without api-keys: exit %s, output %r" % (p.returncode, out[-300:]))
            return
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        if p.poll() is not None:
            return fail("with an api key the image's config did not start: %r" % p.stdout.read()[-300:])
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("the server did not stop on SIGTERM")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build/debug/cliproxy")
    dockerfile = open(os.path.join(ROOT, "Dockerfile")).read()
    st = stages(dockerfile)
    if len(st) != 2:
        return fail("expected two stages (build, runtime), found %d" % len(st))
    (_, build_pkgs), (_, runtime_pkgs) = st

    checked = 0
    for soname in needed(binary):
        if SWIFT_RUNTIME.match(soname) or soname.startswith("ld-linux"):
            continue
        pkg = package_of(soname)
        checked += 1
        if pkg is None:
            fail("%s: no Debian package owns it" % soname)
        elif pkg not in runtime_pkgs and pkg not in BASE_PACKAGES:
            fail("%s comes from %s, which the runtime stage does not install" % (soname, pkg))
    if "ca-certificates" not in runtime_pkgs:
        fail("the runtime stage does not install ca-certificates")

    manifest = open(os.path.join(ROOT, "Package.swift")).read()
    for dev in re.findall(r'\.apt\(\["([^"]+)"\]\)', manifest):
        if dev not in build_pkgs:
            fail("Package.swift needs %s, which the build stage does not install" % dev)

    for src in re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, re.M):
        if not os.path.exists(os.path.join(ROOT, src)):
            fail("COPY %s: no such path" % src)

    config = open(os.path.join(ROOT, "docker/config.yaml")).read()
    run_config(binary, config, expect_start=False)
    run_config(binary, config.replace("api-keys: []", 'api-keys: ["docker-check-key"]'), expect_start=True)

    print("docker_check: %d shared libraries mapped to packages, %d failures" % (checked, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main() or (1 if failures else 0))
