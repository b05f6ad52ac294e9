# Celery on RabbitMQ: the AMQP broker (Celery's exact messages and declarations), the rpc:// result backend, and the
# worker's presence on the broker (remote-control ping on the pidbox, worker events), on gale::amqp's Channel. An
# adapter with its own target and package component (gale::tasks_amqp, `find_package(gale COMPONENTS tasks_amqp)`),
# so that gale::tasks links no rabbitmq-c. Included from this directory's CMakeLists.txt. Tests: gale-tasks-amqp
# (label rabbitmq: a real rabbitmq-server) and gale-tasks-amqp-celery (labels rabbitmq, celery: Debian's
# python3-celery 5.2.6 on /usr/bin/python3, worker and CLI included).
gale_add_adapter(tasks_amqp
    SOURCES src/amqp_transport.cpp src/amqp_broker.cpp src/amqp_rpc_backend.cpp src/amqp_control.cpp
            src/amqp_events.cpp src/amqp_install.cpp
    HEADERS include/gale/tasks/amqp.hpp include/gale/tasks/amqp_control.hpp include/gale/tasks/amqp_events.hpp
    DEPS gale::tasks gale::amqp
    PRIVATE_DEPS gale::log fmt::fmt nlohmann_json::nlohmann_json)

if(GALE_BUILD_TESTS)
    add_executable(gale-tasks-amqp-test src/amqp_transport_test.cpp src/amqp_broker_test.cpp)
    target_include_directories(gale-tasks-amqp-test PRIVATE src)
    target_link_libraries(gale-tasks-amqp-test PRIVATE gale::tasks_amqp gale::amqp_testing fmt::fmt GTest::gtest
        GTest::gmock GTest::gtest_main gale_warnings)
    add_test(NAME gale-tasks-amqp COMMAND gale-tasks-amqp-test)
    set_tests_properties(gale-tasks-amqp PROPERTIES LABELS rabbitmq TIMEOUT 300)

    set(GALE_CELERY_PYTHON /usr/bin/python3 CACHE FILEPATH
        "The Python whose Celery (Debian's python3-celery) the interop tests drive")
    add_executable(gale-tasks-amqp-celery-test src/amqp_celery_interop_test.cpp src/amqp_worker_interop_test.cpp)
    target_include_directories(gale-tasks-amqp-celery-test PRIVATE src)
    target_link_libraries(gale-tasks-amqp-celery-test PRIVATE gale::tasks_amqp gale::amqp_testing fmt::fmt
        GTest::gtest GTest::gmock GTest::gtest_main gale_warnings)
    target_compile_definitions(gale-tasks-amqp-celery-test PRIVATE GALE_CELERY_PYTHON="${GALE_CELERY_PYTHON}"
        GALE_CELERY_AMQP_DIR="${CMAKE_CURRENT_SOURCE_DIR}/testing/celery_amqp")
    add_test(NAME gale-tasks-amqp-celery COMMAND gale-tasks-amqp-celery-test)
    set_tests_properties(gale-tasks-amqp-celery PROPERTIES LABELS "rabbitmq;celery" TIMEOUT 600)
endif()
