#include "bindings.h"

namespace tfbundle {

void bind_checkpoint(pybind11::module_& m) { (void)m; }

}  // namespace tfbundle
