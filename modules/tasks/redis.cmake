# The Celery Redis broker and result backend (kombu's layout), and the worker's presence on the server (worker
# events and remote-control ping over kombu's pub/sub fanout): an adapter with its own target and package component
# (gale::tasks_redis, `find_package(gale COMPONENTS tasks_redis)`), so that gale::tasks links no hiredis. Included
# from this directory's CMakeLists.txt. Tests: gale-tasks-redis (label redis: a real redis-server) and
# gale-tasks-redis-celery (labels redis, celery: Debian's python3-celery 5.2.6 and python3-redis on /usr/bin/python3).
gale_add_adapter(tasks_redis
    SOURCES src/kombu_envelope.cpp src/redis_broker.cpp src/redis_result_backend.cpp src/redis_transport.cpp
            src/redis_fanout.cpp src/redis_events.cpp src/redis_control.cpp
    HEADERS include/gale/tasks/redis.hpp include/gale/tasks/redis_events.hpp include/gale/tasks/redis_control.hpp
    DEPS gale::tasks gale::redis
    PRIVATE_DEPS gale::log fmt::fmt nlohmann_json::nlohmann_json OpenSSL::Crypto)

if(GALE_BUILD_TESTS)
    add_executable(gale-tasks-redis-test src/kombu_envelope_test.cpp src/redis_broker_test.cpp
        src/redis_result_backend_test.cpp src/redis_fanout_test.cpp)
    target_include_directories(gale-tasks-redis-test PRIVATE src)
    target_link_libraries(gale-tasks-redis-test PRIVATE gale::tasks_redis gale::redis_testing fmt::fmt GTest::gtest
        GTest::gmock GTest::gtest_main gale_warnings)
    add_test(NAME gale-tasks-redis COMMAND gale-tasks-redis-test)
    set_tests_properties(gale-tasks-redis PROPERTIES LABELS redis TIMEOUT 300)

    set(GALE_CELERY_PYTHON /usr/bin/python3 CACHE FILEPATH
        "The Python whose Celery (Debian's python3-celery) the interop tests drive")
    add_executable(gale-tasks-redis-celery-test src/redis_celery_interop_test.cpp src/redis_worker_interop_test.cpp
        src/redis_presence_interop_test.cpp)
    target_include_directories(gale-tasks-redis-celery-test PRIVATE src)
    target_link_libraries(gale-tasks-redis-celery-test PRIVATE gale::tasks_redis gale::redis_testing fmt::fmt
        GTest::gtest GTest::gmock GTest::gtest_main gale_warnings)
    target_compile_definitions(gale-tasks-redis-celery-test PRIVATE GALE_CELERY_PYTHON="${GALE_CELERY_PYTHON}"
        GALE_CELERY_REDIS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/testing/celery_redis")
    add_test(NAME gale-tasks-redis-celery COMMAND gale-tasks-redis-celery-test)
    set_tests_properties(gale-tasks-redis-celery PROPERTIES LABELS "redis;celery" TIMEOUT 600)
endif()
gale_add_fuzzer(tasks_redis kombu_envelope CORPUS fuzz/kombu_envelope_corpus)
