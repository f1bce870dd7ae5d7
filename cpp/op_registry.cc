#include "op_registry.h"

#include <algorithm>
#include <iterator>

namespace tfbundle {
namespace {

const RegisteredOp kOps[] = {
#include "op_registry_data.inc"
};

}  // namespace

const RegisteredOp* find_registered_op(std::string_view op) {
  const auto* end = std::end(kOps);
  const auto* it = std::lower_bound(std::begin(kOps), end, op,
                                    [](const RegisteredOp& e, std::string_view key) { return std::string_view(e.name) < key; });
  return it != end && it->name == op ? it : nullptr;
}

const char* op_registry_version() { return TFBUNDLE_OP_REGISTRY_VERSION; }

int64_t op_registry_size() { return static_cast<int64_t>(std::size(kOps)); }

}  // namespace tfbundle
