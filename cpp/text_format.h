// Protocol-buffer text format (saved_model.pbtxt) to binary wire format.
//
// tfbundle decodes protos with the wire reader (wire.h), so a text-format
// SavedModel is first re-encoded, field by field, into the bytes that the
// binary saved_model.pb would hold; everything downstream then reads both the
// same way. The schema (field names, numbers and types of every message
// reachable from tensorflow.SavedModel) is generated from TensorFlow's
// descriptors into cpp/text_schema_data.inc.
//
// The reader accepts what protobuf's text printers write and what people write
// by hand: `field: value` and `field { ... }` / `field < ... >`, an optional
// ':' before a message, ',' or ';' between fields, `[a, b]` lists, '#'
// comments, adjacent strings concatenated, C escapes (\n, \t, \", \ooo, \xHH,
// \uXXXX), integers in decimal, hex or octal, floats with inf/nan, enum values
// by name or number, and google.protobuf.Any written either as type_url/value
// or expanded (`[type.googleapis.com/tensorflow.AssetFileDef] { ... }`).
#pragma once

#include <string>
#include <string_view>

namespace tfbundle {

// Encodes the text-format message `text`, of the schema type `message_type`
// (a full name such as "tensorflow.SavedModel"), into binary wire format.
// `what` names the file in messages. Throws tfbundle::Error DATA_LOSS naming
// the line and what was expected when the text is malformed or names a field
// the type does not have, and INVALID_ARGUMENT for an unknown `message_type`.
std::string text_to_binary(std::string_view text, std::string_view message_type, const std::string& what);

}  // namespace tfbundle
