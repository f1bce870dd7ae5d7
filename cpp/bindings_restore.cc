#include "bindings.h"

namespace tfbundle {

void bind_restore(pybind11::module_& m) { (void)m; }

}  // namespace tfbundle
