"""A real Spark Connect server for the tests: the full pyspark package's jars on a Java 17
runtime, local[2], every port on 127.0.0.1. Started once per test session (~20 s)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

STARTUP_S = 180.0  # a cold JVM on two busy cores
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def spark_home() -> Path:
    import pyspark

    home = Path(pyspark.__file__).resolve().parent
    if not list((home / "jars").glob("spark-connect_*.jar")):
        raise RuntimeError(
            f"{home} has no Spark Connect server jar: the tests need the full pyspark "
            "package (pip install -e '.[dev]'), not pyspark-client"
        )
    return home


class SparkConnectServer:
    """``start``/``stop`` may be called again: the same ports, as a restarted cluster."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.ui_port = free_port()  # the driver's REST API shows what jobs are running
        self.remote = f"sc://{HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        home = spark_home()
        conf = {
            "spark.connect.grpc.binding.address": HOST,
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.driver.host": HOST,
            "spark.driver.bindAddress": HOST,
            "spark.ui.port": str(self.ui_port),
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.catalogImplementation": "in-memory",
            "spark.sql.warehouse.dir": str(self.workdir / "warehouse"),
            "spark.sql.shuffle.partitions": "4",  # the tests' data is small
            "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -Djava.net.preferIPv4Stack=true",
        }
        command = [
            str(home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master",
            "local[2]",
            "--driver-memory",
            "1g",
        ]
        for key, value in conf.items():
            command += ["--conf", f"{key}={value}"]
        return command

    def start(self) -> None:
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise RuntimeError(
                "the Spark tests need Java 17: apt-get install openjdk-17-jre-headless"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": HOST,
            "SPARK_LOCAL_HOSTNAME": "localhost",
            "SPARK_LOG_DIR": str(self.workdir),
        }
        self.starts += 1
        log = (self.workdir / f"server-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.workdir,  # stray files (metastore, checkpoints) stay here
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one
        )
        log.close()
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Spark Connect exited early; see {log.name}")
            if self._answers():
                return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"Spark Connect did not start in {STARTUP_S:g} s; see {log.name}")

    def _answers(self) -> bool:
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex((HOST, self.port)) == 0

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def jobs(self) -> list[dict[str, Any]]:
        """The driver's jobs (Spark's monitoring REST API), newest first."""
        base = f"http://{HOST}:{self.ui_port}/api/v1/applications"
        with urllib.request.urlopen(base, timeout=5) as response:
            app = json.load(response)[0]["id"]
        with urllib.request.urlopen(f"{base}/{app}/jobs", timeout=5) as response:
            jobs: list[dict[str, Any]] = json.load(response)
        return jobs
