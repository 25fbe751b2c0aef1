// Small float64 flow configurations shared by the flow tests (test_flows_layers,
// test_flows_device): 4 layers, conditioners of hidden widths {6, 5}, 5 spline bins.
#pragma once

#include <string>

#include "phyflow/flows/flow.hpp"

namespace phyflow::flows::testing {

inline FlowConfig tiny_flow(int dims, int L, const std::string& coupling, const std::string& net,
                            bool z2 = false) {
  FlowConfig c;
  c.shape = {dims, L};
  c.coupling = coupling;
  c.layers = 4;
  c.net.net = net;
  c.net.hidden = {6, 5};
  c.net.final_tanh = coupling == "affine";
  c.z2 = z2;
  c.bins = 5;
  c.bound = 2.5;
  c.dtype = "float64";
  return c;
}

}  // namespace phyflow::flows::testing
