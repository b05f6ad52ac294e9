// SPDX-License-Identifier: MIT
/// @file notes/inbox.hpp
/// @brief Notes sent by other services through the log pipe (django-logpipe's messages): the message, the consumer
///        that saves them, and a producer that sends one.
#pragma once

#include <string>

#include <gale/app/app.hpp>
#include <gale/base/error.hpp>
#include <gale/pipe/backend.hpp>
#include <gale/pipe/embedded_log.hpp>
#include <gale/pipe/serializer.hpp>

#include "notes/settings.hpp"
#include "notes/store.hpp"

namespace notes {

/// A note as another service sends it: type "note", version 1, on topic "notes", keyed by ref;
/// json:{"type":"note","version":1,"message":{"ref":"crm-42","title":"Call Ada","text":"About the invoice"}}
struct NoteMessage {
    std::string ref;  ///< the sender's id for the note; a later message with the same ref replaces it
    std::string title;
    std::string text;
};
GALE_PIPE_DEFINE_MESSAGE(NoteMessage, ref, title, text)  // fields go on the wire in this order

inline const gale::pipe::TypedSerializer<NoteMessage> kNoteMessages("note", /*version=*/1, /*key_field=*/"ref");
inline constexpr const char* kNotesTopic = "notes";
inline constexpr const char* kConsumerGroup = "notes";

/// The consumer that `notes consume` runs: group "notes" reads topic "notes" of `log` and puts each note into
/// `store` (NoteStore::Put), then commits the record's offset. A crash between the two delivers the message again,
/// which Put, an upsert by ref, makes harmless. A message without a ref or that breaks ValidateNote is skipped
/// (logged and counted); a record that cannot be decoded goes to the log's dead-letter table; a failing Put is
/// retried with backoff, then dead-lettered. Needs the notes table (`notes migrate`).
gale::app::ConsumerSpec MakeNoteConsumer(const gale::pipe::EmbeddedLog& log, NoteStore store, const Options& options);

/// Sends `note` to topic "notes" of `log`, as another service would. Nothing is validated: that is the consumer's
/// job. Errors: the log cannot be written.
gale::Result<gale::pipe::RecordMetadata> SendNote(const gale::pipe::EmbeddedLog& log, const NoteMessage& note);

}  // namespace notes
