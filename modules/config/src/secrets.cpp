// SPDX-License-Identifier: MIT
// transcrypt's clean filter runs `openssl enc -<cipher> -md <digest> -pass env:ENC_PASS -e -a -S <salt>` (plus
// `-pbkdf2` in transcrypt 3), with a deterministic salt derived from the file name and contents so git sees no
// change on re-encryption; with OpenSSL 3, which omits the header when -S is given, it prepends "Salted__" + salt
// itself. Either way the file is base64 of: "Salted__" | salt (8 bytes) | CBC ciphertext (PKCS#7 padded). We
// reproduce `openssl enc -d`: derive key and IV from password + salt (EVP_BytesToKey, one round, or PBKDF2-HMAC),
// decrypt with EVP, and treat a padding failure as a wrong password. The plaintext is a dotenv file, so it must
// also be NUL-free UTF-8; that catches most of the wrong passwords that happen to produce valid padding.
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>

#include <gale/base/dynamic_library.hpp>
#include <gale/config/secrets.hpp>

namespace gale::config {
namespace {

// libcrypto is loaded on first use (gale/base/dynamic_library.hpp): a process without encrypted secret files does
// not carry it. Only these symbols are used; their types come from OpenSSL's headers.
struct CryptoApi {
    std::string error;  // empty when loaded
    decltype(&::EVP_get_cipherbyname) EVP_get_cipherbyname = nullptr;
    decltype(&::EVP_CIPHER_get_iv_length) EVP_CIPHER_get_iv_length = nullptr;
    decltype(&::EVP_get_digestbyname) EVP_get_digestbyname = nullptr;
    decltype(&::EVP_CIPHER_get_block_size) EVP_CIPHER_get_block_size = nullptr;
    decltype(&::EVP_CIPHER_get_key_length) EVP_CIPHER_get_key_length = nullptr;
    decltype(&::PKCS5_PBKDF2_HMAC) PKCS5_PBKDF2_HMAC = nullptr;
    decltype(&::EVP_BytesToKey) EVP_BytesToKey = nullptr;
    decltype(&::EVP_CIPHER_CTX_new) EVP_CIPHER_CTX_new = nullptr;
    decltype(&::EVP_CIPHER_CTX_free) EVP_CIPHER_CTX_free = nullptr;
    decltype(&::EVP_DecryptInit_ex) EVP_DecryptInit_ex = nullptr;
    decltype(&::EVP_DecryptUpdate) EVP_DecryptUpdate = nullptr;
    decltype(&::EVP_DecryptFinal_ex) EVP_DecryptFinal_ex = nullptr;
    decltype(&::OPENSSL_cleanse) OPENSSL_cleanse = nullptr;
};

const CryptoApi& Crypto() {
    static const CryptoApi api = [] {
        CryptoApi a;
        auto lib = DynamicLibrary::Open({"libcrypto.so.3"}, "libssl3");
        if (!lib) {
            a.error = lib.error().message();
            return a;
        }
        lib->Resolve("EVP_get_cipherbyname", a.EVP_get_cipherbyname, a.error);
        lib->Resolve("EVP_CIPHER_get_iv_length", a.EVP_CIPHER_get_iv_length, a.error);
        lib->Resolve("EVP_get_digestbyname", a.EVP_get_digestbyname, a.error);
        lib->Resolve("EVP_CIPHER_get_block_size", a.EVP_CIPHER_get_block_size, a.error);
        lib->Resolve("EVP_CIPHER_get_key_length", a.EVP_CIPHER_get_key_length, a.error);
        lib->Resolve("PKCS5_PBKDF2_HMAC", a.PKCS5_PBKDF2_HMAC, a.error);
        lib->Resolve("EVP_BytesToKey", a.EVP_BytesToKey, a.error);
        lib->Resolve("EVP_CIPHER_CTX_new", a.EVP_CIPHER_CTX_new, a.error);
        lib->Resolve("EVP_CIPHER_CTX_free", a.EVP_CIPHER_CTX_free, a.error);
        lib->Resolve("EVP_DecryptInit_ex", a.EVP_DecryptInit_ex, a.error);
        lib->Resolve("EVP_DecryptUpdate", a.EVP_DecryptUpdate, a.error);
        lib->Resolve("EVP_DecryptFinal_ex", a.EVP_DecryptFinal_ex, a.error);
        lib->Resolve("OPENSSL_cleanse", a.OPENSSL_cleanse, a.error);
        return a;
    }();
    return api;
}

}  // namespace
namespace {

constexpr std::string_view kMagic = "Salted__";
constexpr std::size_t kSaltSize = 8;

int Base64Value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Strict base64 (standard alphabet, '=' padding only at the end); ASCII whitespace is skipped, as openssl -a does.
bool DecodeBase64(std::string_view in, std::vector<unsigned char>& out) {
    std::uint32_t acc = 0;
    int bits = 0;
    std::size_t padding = 0;
    for (char c : in) {
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
        if (c == '=') {
            ++padding;
            continue;
        }
        if (padding != 0) return false;  // data after padding
        int v = Base64Value(c);
        if (v < 0) return false;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<unsigned char>((acc >> bits) & 0xFF));
        }
    }
    return padding <= 2;
}

bool IsUtf8WithoutNul(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == 0) return false;
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= s.size()) return false;  // truncated sequence
        for (std::size_t k = 1; k <= n; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        // Reject overlong forms, surrogates and values above U+10FFFF.
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

struct CipherCtxDeleter {
    void operator()(EVP_CIPHER_CTX* ctx) const { Crypto().EVP_CIPHER_CTX_free(ctx); }
};

}  // namespace

bool IsTranscryptEncrypted(std::string_view text) noexcept { return text.substr(0, 8) == "U2FsdGVk"; }

Result<std::string> DecryptTranscrypt(std::string_view ciphertext, std::string_view password,
                                      std::string_view file_name, const TranscryptOptions& options) {
    auto fail = [&](std::string_view what) {
        return MakeError(ErrorCode::kInvalidArgument, fmt::format("{}: {}", file_name, what));
    };
    if (!Crypto().error.empty()) {
        return MakeError(ErrorCode::kUnavailable, fmt::format("{}: {}", file_name, Crypto().error));
    }
    std::vector<unsigned char> raw;
    if (!DecodeBase64(ciphertext, raw)) return fail("not a transcrypt file (not base64)");
    if (raw.empty()) return std::string();
    if (raw.size() < kMagic.size() + kSaltSize ||
        std::string_view(reinterpret_cast<const char*>(raw.data()), kMagic.size()) != kMagic) {
        return fail("not a transcrypt file (no 'Salted__' header)");
    }
    const EVP_CIPHER* cipher = Crypto().EVP_get_cipherbyname(options.cipher.c_str());
    if (cipher == nullptr || Crypto().EVP_CIPHER_get_iv_length(cipher) <= 0) {
        return fail(fmt::format("unknown cipher '{}'", options.cipher));
    }
    const EVP_MD* md = Crypto().EVP_get_digestbyname(options.digest.c_str());
    if (md == nullptr) return fail(fmt::format("unknown digest '{}'", options.digest));

    const unsigned char* salt = raw.data() + kMagic.size();
    const unsigned char* body = salt + kSaltSize;
    const std::size_t body_size = raw.size() - kMagic.size() - kSaltSize;
    const int block = Crypto().EVP_CIPHER_get_block_size(cipher);
    if (body_size == 0 || (block > 1 && body_size % static_cast<std::size_t>(block) != 0)) {
        return fail("not a transcrypt file (truncated ciphertext)");
    }

    const int key_len = Crypto().EVP_CIPHER_get_key_length(cipher);
    const int iv_len = Crypto().EVP_CIPHER_get_iv_length(cipher);
    std::array<unsigned char, EVP_MAX_KEY_LENGTH + EVP_MAX_IV_LENGTH> key_iv{};
    if (options.pbkdf2) {
        if (options.iterations <= 0) return fail("pbkdf2 needs a positive iteration count");
        if (Crypto().PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, kSaltSize,
                                       options.iterations, md, key_len + iv_len, key_iv.data()) != 1) {
            return fail("key derivation failed");
        }
    } else {
        if (Crypto().EVP_BytesToKey(cipher, md, salt, reinterpret_cast<const unsigned char*>(password.data()),
                                    static_cast<int>(password.size()), 1, key_iv.data(),
                                    key_iv.data() + key_len) <= 0) {
            return fail("key derivation failed");
        }
    }

    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(Crypto().EVP_CIPHER_CTX_new());
    if (!ctx || Crypto().EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, key_iv.data(), key_iv.data() + key_len) != 1) {
        return MakeError(ErrorCode::kInternal, fmt::format("{}: cannot initialise {}", file_name, options.cipher));
    }
    std::string plain(body_size + static_cast<std::size_t>(block), '\0');
    int out_len = 0;
    int final_len = 0;
    auto* out = reinterpret_cast<unsigned char*>(plain.data());
    const bool ok = Crypto().EVP_DecryptUpdate(ctx.get(), out, &out_len, body, static_cast<int>(body_size)) == 1 &&
                    Crypto().EVP_DecryptFinal_ex(ctx.get(), out + out_len, &final_len) == 1;
    Crypto().OPENSSL_cleanse(key_iv.data(), key_iv.size());
    if (ok) plain.resize(static_cast<std::size_t>(out_len + final_len));
    if (!ok || !IsUtf8WithoutNul(plain)) {
        Crypto().OPENSSL_cleanse(plain.data(), plain.size());
        return fail("wrong TRANSCRYPT_PASSWORD or not a transcrypt file");
    }
    return plain;
}

}  // namespace gale::config
