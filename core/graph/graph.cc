#include "core/graph/graph.h"

#include <boost/asio/signal_set.hpp>
#include <csignal>

#include "core/graph/detail/runtime.h"

namespace millrace {

Graph::Graph(GraphOptions options) : rt_(std::make_unique<internal::Runtime>(std::move(options))) {}

Graph::~Graph() = default;

internal::StageBase* Graph::AddStage(std::unique_ptr<internal::StageBase> stage) {
  return rt_->AddStage(std::move(stage));
}

void Graph::ConnectChannel(std::unique_ptr<internal::ChannelBase> channel) {
  rt_->AddChannel(std::move(channel));
}

void Graph::Validate() const { rt_->Validate(); }
void Graph::Run() { rt_->Run(); }
void Graph::Cancel() { rt_->Cancel(); }
bool Graph::cancelled() const { return rt_->cancelled(); }
void Graph::SetConcurrency(std::string_view stage, int n) { rt_->SetConcurrency(stage, n); }

int Graph::Concurrency(std::string_view stage) const {
  const internal::StageBase* s = rt_->Find(stage);
  MILLRACE_CHECK_ARG(s != nullptr, "Concurrency: no stage is named '" << stage << "'");
  return s->concurrency();
}

GraphStats Graph::Stats() const { return rt_->Stats(); }
std::string Graph::Report() const { return rt_->Stats().ToTable(); }
void Graph::WriteTrace(const std::string& path) const { rt_->WriteTrace(path); }
boost::asio::io_context& Graph::io_context() { return rt_->io(); }

struct CancelOnSigint::Impl {
  explicit Impl(Graph& g) : graph(g), signals(g.io_context(), SIGINT) {
    signals.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) graph.Cancel();
    });
  }
  Graph& graph;
  boost::asio::signal_set signals;
};

CancelOnSigint::CancelOnSigint(Graph& graph) : impl_(std::make_unique<Impl>(graph)) {}
CancelOnSigint::~CancelOnSigint() = default;

}  // namespace millrace
