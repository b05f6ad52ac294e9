// SPDX-License-Identifier: MIT
/// @file gale/sessions/session.hpp
/// @brief Session: one request's session data (a JSON object, as Django's JSONSerializer keeps it), with the
///        modified flag, key rotation on login and flushing on logout.
///
/// A handler gets its Session from WithSession (gale/sessions/manager.hpp), which loaded it from the request's cookie
/// and saves it after the handler returned, only when something changed (Django's SessionMiddleware). Writing through
/// Set, Erase, Clear or mutable_data() marks it modified; reading does not.
///
/// | call | Django | what happens at save |
/// |---|---|---|
/// | Set / Erase / Clear / mutable_data | `request.session[k] = v`, `del`, `clear()` | data stored, cookie sent |
/// | Rotate() | `cycle_key()` (on login) | a new key with the same data; the old key deleted from the store |
/// | Flush() | `flush()` (on logout) | data and key deleted; the cookie deleted unless new data was set after |
///
/// Ownership: a value owned by the wrapper for one request. Thread-safety: thread-compatible (one request's thread).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gale::sessions {

class Session {
public:
    /// A new, empty session without a key.
    Session() = default;
    /// A session loaded from the store under `key` (empty for the signed-cookie backend). `data` must be an object;
    /// anything else starts empty.
    Session(std::string key, nlohmann::json data);

    /// The data: always a JSON object.
    [[nodiscard]] const nlohmann::json& data() const noexcept { return data_; }
    /// The value of `name`, or nullptr.
    [[nodiscard]] const nlohmann::json* Find(std::string_view name) const;
    /// The value of `name` converted to T, or `fallback` when absent or of another type.
    template <typename T>
    [[nodiscard]] T Get(std::string_view name, T fallback) const {
        const nlohmann::json* v = Find(name);
        if (v == nullptr) return fallback;
        try {
            return v->get<T>();
        } catch (const nlohmann::json::exception&) {
            return fallback;
        }
    }
    void Set(const std::string& name, nlohmann::json value);
    /// True when `name` was there.
    bool Erase(std::string_view name);
    /// Removes every value (the key stays).
    void Clear();
    /// The data to change in place; marks the session modified.
    [[nodiscard]] nlohmann::json& mutable_data();
    /// Forces a save (Django's `request.session.modified = True`).
    void MarkModified() noexcept { modified_ = true; }

    /// A new key for the same data (on login, against session fixation): the old key is deleted from the store at
    /// save and the cookie carries the new one. The signed-cookie backend re-signs the data (its key is the data).
    void Rotate();
    /// Deletes the session (on logout): the data is cleared, the key is deleted from the store at save, and the
    /// cookie is deleted unless the handler sets new data afterwards (which then gets a new key).
    void Flush();

    /// The store key ("" for a new session and for the signed-cookie backend).
    [[nodiscard]] const std::string& key() const noexcept { return key_; }
    [[nodiscard]] bool modified() const noexcept { return modified_; }
    [[nodiscard]] bool empty() const noexcept { return data_.empty(); }

    // For the manager: keys to delete from the store at save, and the key once saved.
    [[nodiscard]] const std::vector<std::string>& keys_to_delete() const noexcept { return keys_to_delete_; }
    void SetSavedKey(std::string key);

private:
    std::string key_;
    nlohmann::json data_ = nlohmann::json::object();
    bool modified_ = false;
    std::vector<std::string> keys_to_delete_;
};

}  // namespace gale::sessions
