// SPDX-License-Identifier: MIT
/// @file gale/aws/environment.hpp
/// @brief AWS credentials, region and endpoint overrides read from the standard AWS_* environment variables.
///
/// | Variable                          | Meaning                                                   | Default        |
/// |-----------------------------------|-----------------------------------------------------------|----------------|
/// | AWS_ACCESS_KEY_ID                 | access key id                                             | required       |
/// | AWS_SECRET_ACCESS_KEY             | secret access key                                         | required       |
/// | AWS_SESSION_TOKEN                 | session token of temporary credentials                    | none           |
/// | AWS_REGION                        | region; wins over AWS_DEFAULT_REGION                      | required       |
/// | AWS_DEFAULT_REGION                | region, when AWS_REGION is not set                        |                |
/// | AWS_ENDPOINT_URL_<SERVICE>        | endpoint for one service (AWS_ENDPOINT_URL_KMS)           | none           |
/// | AWS_ENDPOINT_URL                  | endpoint for every service without its own override      | AWS's endpoint |
///
/// An empty variable counts as unset, as in the AWS SDKs. The functions are thread-safe as long as nothing modifies
/// the environment concurrently (getenv); tests inject an EnvLookup instead.
/// Not read (yet): shared config/credentials files, AWS_PROFILE, container and instance-role credentials.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <gale/aws/sigv4.hpp>
#include <gale/base/environment.hpp>
#include <gale/base/error.hpp>

namespace gale::aws {

/// Looks one variable up (gale/base/environment.hpp).
using EnvLookup = gale::EnvLookup;

/// The process environment (getenv).
EnvLookup ProcessEnvironment();

/// Credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the optional AWS_SESSION_TOKEN.
/// Error kNotFound naming the missing variable(s): "AWS credentials: AWS_SECRET_ACCESS_KEY is not set".
[[nodiscard]] Result<Credentials> CredentialsFromEnvironment(const EnvLookup& env = ProcessEnvironment());

/// Region from AWS_REGION, else AWS_DEFAULT_REGION. Error kNotFound: "AWS region: neither AWS_REGION nor
/// AWS_DEFAULT_REGION is set".
[[nodiscard]] Result<std::string> RegionFromEnvironment(const EnvLookup& env = ProcessEnvironment());

/// Endpoint override for a service: AWS_ENDPOINT_URL_<SERVICE> (service id upper-cased, spaces and '-' as '_'),
/// else AWS_ENDPOINT_URL, else nullopt (use AWS's endpoint). A trailing '/' is removed.
std::optional<std::string> EndpointFromEnvironment(std::string_view service_id,
                                                   const EnvLookup& env = ProcessEnvironment());

}  // namespace gale::aws
