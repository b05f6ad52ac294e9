// SPDX-License-Identifier: MIT
/// @file amqp_celery_fixture.hpp (private)
/// @brief The Python Celery side of the RabbitMQ interop tests: /usr/bin/python3 (GALE_CELERY_PYTHON) running
///        testing/celery_amqp/gale_celery_amqp.py or `python3 -m celery -A gale_celery_amqp …` against the shared
///        broker, one JSON line per answer. Every wait is bounded (kPythonTimeout); the children are killed with
///        their process group when the Child goes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "amqp_test_util.hpp"

namespace gale::tasks::amqp::test {

inline constexpr std::chrono::seconds kPythonTimeout{60};

inline std::unique_ptr<Child> Python(gale::amqp::testing::RabbitMqServer& broker, const std::vector<std::string>& args,
                                     const std::string& tag) {
    std::vector<std::string> argv{GALE_CELERY_PYTHON};
    for (const auto& a : args) argv.push_back(a);
    auto c = Child::Spawn(argv, {"GALE_AMQP_URL=" + broker.url(), "PYTHONDONTWRITEBYTECODE=1"}, GALE_CELERY_AMQP_DIR,
                          broker.dir() + "/" + tag + ".stderr");
    EXPECT_TRUE(c) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
}

inline nlohmann::json ReadJson(Child& child) {
    auto line = child.ReadLine(kPythonTimeout);
    EXPECT_TRUE(line) << line.error().ToString();
    if (!line) return nullptr;
    try {
        return nlohmann::json::parse(*line);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not JSON: " << *line << "\n" << child.Stderr();
        return nullptr;
    }
}

}  // namespace gale::tasks::amqp::test
