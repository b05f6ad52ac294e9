// SPDX-License-Identifier: MIT
#include "notes/inbox.hpp"

#include <memory>
#include <utility>

#include <gale/pipe/consumer.hpp>
#include <gale/pipe/producer.hpp>

namespace notes {

gale::app::ConsumerSpec MakeNoteConsumer(const gale::pipe::EmbeddedLog& log, NoteStore store, const Options& options) {
    // The consumer borrows its backend and its dead-letter sink: the spec keeps both, and destroys the consumer first.
    std::shared_ptr<gale::pipe::DeadLetterSink> dead_letters = log.DeadLetters();
    gale::app::ConsumerSpec spec;
    spec.keep_alive = dead_letters;
    spec.backend = log.Consumer(kConsumerGroup, kNotesTopic);
    spec.consumer = std::make_unique<gale::pipe::Consumer>(
        kNotesTopic, *spec.backend, gale::pipe::ConsumerOptions{.dead_letters = dead_letters.get()});

    auto save = [store](const NoteMessage& note) mutable { return store.Put(note.ref, note.title, note.text); };
    auto validate = [options](const NoteMessage& note) -> gale::Result<void> {
        if (note.ref.empty()) return gale::MakeError(gale::ErrorCode::kInvalidArgument, "field 'ref': empty");
        return ValidateNote(note.title, note.text, options);
    };
    spec.consumer->Register(gale::pipe::MakeHandler(kNoteMessages, save, validate));
    return spec;
}

gale::Result<gale::pipe::RecordMetadata> SendNote(const gale::pipe::EmbeddedLog& log, const NoteMessage& note) {
    GALE_ASSIGN_OR_RETURN(auto backend, log.Producer());
    return gale::pipe::TypedProducer<NoteMessage>(kNotesTopic, kNoteMessages, *backend).Send(note);
}

}  // namespace notes
