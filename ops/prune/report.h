// A sparsity report: zeros per tensor and overall, as numbers and as a text table.
//
//   std::cout << SparsityReport(model.Parameters()).ToString();
//   name          shape        params   zeros  sparsity
//   fc1.weight    [500, 784]   392000  352800    90.00%
//   ...
//   total                      397510  352800    88.75%
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/layer.h"

namespace millrace::ops {

struct SparsityRow {
  std::string name;
  Shape shape;
  int64_t numel = 0;
  int64_t zeros = 0;   // entries of the value equal to 0 (pruned or not)
  int64_t masked = 0;  // entries whose mask is 0
  double sparsity() const { return numel ? static_cast<double>(zeros) / numel : 0.0; }
};

class SparsityReport {
 public:
  explicit SparsityReport(const std::vector<Parameter*>& parameters);

  const std::vector<SparsityRow>& rows() const { return rows_; }
  const SparsityRow& total() const { return total_; }  // name "total"
  std::string ToString() const;                        // the text table above

 private:
  std::vector<SparsityRow> rows_;
  SparsityRow total_;
};

}  // namespace millrace::ops
