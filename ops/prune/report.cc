#include "ops/prune/report.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "ops/prune/magnitude.h"
#include "ops/prune/mask.h"

namespace millrace::ops {

SparsityReport::SparsityReport(const std::vector<Parameter*>& parameters) {
  total_.name = "total";
  for (const Parameter* p : parameters) {
    SparsityRow row;
    row.name = p->name;
    row.shape = p->value.shape();
    row.numel = p->value.numel();
    row.zeros = CountZeros(p->value);
    row.masked = PrunedCount(*p);
    total_.numel += row.numel;
    total_.zeros += row.zeros;
    total_.masked += row.masked;
    rows_.push_back(std::move(row));
  }
}

std::string SparsityReport::ToString() const {
  size_t name_width = 5, shape_width = 5;
  for (const auto& r : rows_) {
    name_width = std::max(name_width, r.name.size());
    shape_width = std::max(shape_width, millrace::ToString(r.shape).size());
  }
  std::ostringstream out;
  auto line = [&](const std::string& name, const std::string& shape, const std::string& numel,
                  const std::string& zeros, const std::string& sparsity) {
    out << std::left << std::setw(static_cast<int>(name_width) + 2) << name
        << std::setw(static_cast<int>(shape_width) + 2) << shape << std::right << std::setw(12)
        << numel << std::setw(12) << zeros << std::setw(10) << sparsity << "\n";
  };
  auto percent = [](double x) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(2) << 100 * x << "%";
    return s.str();
  };
  line("name", "shape", "params", "zeros", "sparsity");
  for (const auto& r : rows_) {
    line(r.name, millrace::ToString(r.shape), std::to_string(r.numel), std::to_string(r.zeros),
         percent(r.sparsity()));
  }
  line(total_.name, "", std::to_string(total_.numel), std::to_string(total_.zeros),
       percent(total_.sparsity()));
  return out.str();
}

}  // namespace millrace::ops
