"""Locate and load the librdkafka shared library bundled in the confluent-kafka
wheel (``site-packages/confluent_kafka.libs/librdkafka-<hash>.so.1``) with ctypes.

Used by mock_cluster.py; ``python rdkafka_lib.py --path`` prints the path.
Override with the environment variable RIG_LIBRDKAFKA=/path/to/librdkafka.so.
"""

import ctypes
import ctypes.util
import glob
import os
import sys


def find_librdkafka():
    env = os.environ.get("RIG_LIBRDKAFKA")
    if env:
        return env
    try:
        import importlib.util

        spec = importlib.util.find_spec("confluent_kafka")
    except ImportError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        pkg = list(spec.submodule_search_locations)[0]
        site = os.path.dirname(pkg)
        for pattern in ("confluent_kafka.libs/librdkafka*.so*", "confluent_kafka/.libs/librdkafka*.so*"):
            hits = sorted(glob.glob(os.path.join(site, pattern)))
            if hits:
                return hits[0]
    found = ctypes.util.find_library("rdkafka")
    if found:
        return found
    raise FileNotFoundError(
        "librdkafka not found: run scripts/setup-rig.sh (installs confluent-kafka "
        "into .venv) or set RIG_LIBRDKAFKA")


def load():
    """Load librdkafka and declare the prototypes used by the rig."""
    # The wheel's librdkafka is the same file confluent_kafka's extension links
    # against; loading it by path gives the same (already mapped) library.
    lib = ctypes.CDLL(find_librdkafka())
    c = ctypes
    vp, cp, i16, i32, i64, ci, sz = (c.c_void_p, c.c_char_p, c.c_int16, c.c_int32,
                                     c.c_int64, c.c_int, c.c_size_t)

    def proto(name, res, *args):
        fn = getattr(lib, name, None)
        if fn is None:
            return
        fn.restype = res
        fn.argtypes = list(args)

    proto("rd_kafka_version", ci)
    proto("rd_kafka_version_str", cp)
    proto("rd_kafka_err2name", cp, ci)
    proto("rd_kafka_err2str", cp, ci)
    proto("rd_kafka_conf_new", vp)
    proto("rd_kafka_conf_set", ci, vp, cp, cp, cp, sz)
    proto("rd_kafka_new", vp, ci, vp, cp, sz)
    proto("rd_kafka_destroy", None, vp)
    proto("rd_kafka_poll", ci, vp, ci)
    # rdkafka_mock.h (experimental API; signatures checked against librdkafka 2.x)
    proto("rd_kafka_mock_cluster_new", vp, vp, ci)
    proto("rd_kafka_mock_cluster_destroy", None, vp)
    proto("rd_kafka_mock_cluster_bootstraps", cp, vp)
    proto("rd_kafka_mock_topic_create", ci, vp, cp, ci, ci)
    proto("rd_kafka_mock_topic_delete", ci, vp, cp)
    proto("rd_kafka_mock_topic_set_error", None, vp, cp, ci)
    proto("rd_kafka_mock_partition_set_leader", ci, vp, cp, i32, i32)
    proto("rd_kafka_mock_partition_set_follower", ci, vp, cp, i32, i32)
    proto("rd_kafka_mock_partition_set_follower_wmarks", ci, vp, cp, i32, i64, i64)
    proto("rd_kafka_mock_partition_push_leader_response", ci, vp, cp, ci, i32, i32)
    proto("rd_kafka_mock_partition_delete_records", ci, vp, cp, i32, i64)
    proto("rd_kafka_mock_broker_set_down", ci, vp, i32)
    proto("rd_kafka_mock_broker_set_up", ci, vp, i32)
    proto("rd_kafka_mock_broker_set_rtt", ci, vp, i32, ci)
    proto("rd_kafka_mock_broker_set_rack", ci, vp, i32, cp)
    proto("rd_kafka_mock_broker_set_host_port", None, vp, i32, cp, ci)
    proto("rd_kafka_mock_broker_decommission", ci, vp, i32)
    proto("rd_kafka_mock_broker_add", ci, vp, i32)
    proto("rd_kafka_mock_broker_error_stack_cnt", ci, vp, i32, i16, c.POINTER(sz))
    proto("rd_kafka_mock_coordinator_set", ci, vp, cp, cp, i32)
    proto("rd_kafka_mock_set_apiversion", ci, vp, i16, i16, i16)
    proto("rd_kafka_mock_set_controller_id", None, vp, i32)
    proto("rd_kafka_mock_group_initial_rebalance_delay_ms", None, vp, i32)
    proto("rd_kafka_mock_push_request_errors_array", None, vp, i16, sz, c.POINTER(ci))
    proto("rd_kafka_mock_clear_request_errors", None, vp, i16)
    # Variadic functions: only the fixed part is declared; the variadic ints
    # are passed as c_int (correct for the x86-64/aarch64 SysV ABIs).
    for name in ("rd_kafka_mock_partition_push_request_errors",
                 "rd_kafka_mock_broker_push_request_error_rtts"):
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = ci
    return lib


if __name__ == "__main__":
    if sys.argv[1:] == ["--path"]:
        print(os.path.realpath(find_librdkafka()))
    else:
        lib = load()
        print(lib.rd_kafka_version_str().decode(), os.path.realpath(find_librdkafka()))
