// SPDX-License-Identifier: MIT
#include <gale/sessions/session.hpp>

namespace gale::sessions {

Session::Session(std::string key, nlohmann::json data) : key_(std::move(key)) {
    if (data.is_object()) data_ = std::move(data);
}

const nlohmann::json* Session::Find(std::string_view name) const {
    auto it = data_.find(name);
    return it == data_.end() ? nullptr : &*it;
}

void Session::Set(const std::string& name, nlohmann::json value) {
    data_[name] = std::move(value);
    modified_ = true;
}

bool Session::Erase(std::string_view name) {
    auto it = data_.find(name);
    if (it == data_.end()) return false;
    data_.erase(it);
    modified_ = true;
    return true;
}

void Session::Clear() {
    data_ = nlohmann::json::object();
    modified_ = true;
}

nlohmann::json& Session::mutable_data() {
    modified_ = true;
    return data_;
}

void Session::Rotate() {
    if (!key_.empty()) keys_to_delete_.push_back(std::move(key_));
    key_.clear();
    modified_ = true;
}

void Session::Flush() {
    Rotate();
    data_ = nlohmann::json::object();
}

void Session::SetSavedKey(std::string key) {
    key_ = std::move(key);
    keys_to_delete_.clear();
}

}  // namespace gale::sessions
