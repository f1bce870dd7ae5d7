#include "bindings.h"

namespace tfbundle {

void bind_inspect(pybind11::module_& m) { (void)m; }

}  // namespace tfbundle
