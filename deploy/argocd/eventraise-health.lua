-- Argo CD health of an EventRaise (eventxmlrpc.io/v1alpha1), the verdict
-- kstatus gives in Argo CD's words: InProgress is Progressing, Current is
-- Healthy, Failed is Degraded. Argo CD runs it with the object as `obj`:
-- resource.customizations.health.eventxmlrpc.io_EventRaise in argocd-cm.
local hs = {}
local status = obj.status
if status == nil or status.observedGeneration == nil or status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to process the raise"
  return hs
end
local conditions = {}
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    conditions[condition.type] = condition
  end
end
local stalled = conditions["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. stalled.message
  return hs
end
local reconciling = conditions["Reconciling"]
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = reconciling.message
  return hs
end
local ready = conditions["Ready"]
if ready ~= nil and ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = ready.message
  return hs
end
hs.status = "Healthy"
local complete = conditions["Complete"]
if complete ~= nil then
  hs.message = complete.reason .. ": " .. complete.message
end
return hs
