// SPDX-License-Identifier: MIT
#include "crypto.hpp"

#include <zlib.h>

#include <array>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <gale/base/check.hpp>

namespace gale::sessions::detail {
namespace {

const EVP_MD* Md(Digest digest) { return digest == Digest::kSha1 ? EVP_sha1() : EVP_sha256(); }

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

std::string Hash(Digest digest, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int size = 0;
    GALE_CHECK(EVP_Digest(data.data(), data.size(), out.data(), &size, Md(digest), nullptr) == 1);
    return std::string(reinterpret_cast<const char*>(out.data()), size);
}

std::string Hmac(Digest digest, std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int size = 0;
    GALE_CHECK(HMAC(Md(digest), key.data(), static_cast<int>(key.size()), Bytes(data), data.size(), out.data(),
                    &size) != nullptr);
    return std::string(reinterpret_cast<const char*>(out.data()), size);
}

std::string SaltedHmac(Digest digest, std::string_view key_salt, std::string_view value, std::string_view secret) {
    std::string salted;
    salted.reserve(key_salt.size() + secret.size());
    salted.append(key_salt).append(secret);
    return Hmac(digest, Hash(digest, salted), value);
}

std::string RandomBytes(std::size_t n) {
    std::string out(n, '\0');
    GALE_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1);
    return out;
}

std::string RandomString(std::size_t length, std::string_view alphabet) {
    GALE_CHECK(!alphabet.empty() && alphabet.size() <= 256);
    // Bytes at or above the largest multiple of the alphabet's size are drawn again, so every character is equally
    // likely (Python's secrets.choice is uniform too).
    const unsigned limit = 256 - 256 % static_cast<unsigned>(alphabet.size());
    std::string out;
    out.reserve(length);
    while (out.size() < length) {
        for (char b : RandomBytes(length - out.size() + 8)) {
            const auto v = static_cast<unsigned char>(b);
            if (v >= limit) continue;
            out.push_back(alphabet[v % alphabet.size()]);
            if (out.size() == length) break;
        }
    }
    return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string ZlibCompress(std::string_view data) {
    uLongf size = compressBound(static_cast<uLong>(data.size()));
    std::string out(size, '\0');
    GALE_CHECK(compress(reinterpret_cast<Bytef*>(out.data()), &size, Bytes(data), static_cast<uLong>(data.size())) ==
               Z_OK);
    out.resize(size);
    return out;
}

std::optional<std::string> ZlibDecompress(std::string_view data, std::size_t max_size) {
    z_stream z{};
    if (inflateInit(&z) != Z_OK) return std::nullopt;
    z.next_in = const_cast<Bytef*>(Bytes(data));  // zlib's API is not const-correct; it does not write the input
    z.avail_in = static_cast<uInt>(data.size());
    std::string out;
    std::array<char, 16384> buf{};
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buf.data());
        z.avail_out = static_cast<uInt>(buf.size());
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) break;
        const std::size_t produced = buf.size() - z.avail_out;
        if (out.size() + produced > max_size) {
            rc = Z_BUF_ERROR;
            break;
        }
        out.append(buf.data(), produced);
        if (rc == Z_OK && produced == 0 && z.avail_in == 0) {
            rc = Z_BUF_ERROR;  // truncated: no more input and no end of stream
            break;
        }
    }
    const bool complete = rc == Z_STREAM_END && z.avail_in == 0;
    inflateEnd(&z);
    if (!complete) return std::nullopt;
    return out;
}

}  // namespace gale::sessions::detail
