-- nvim-dap.lua: Neovim's nvim-dap, headless, against the vgpu debug adapter (a manual run: nvim-dap is
-- not packaged by Debian; test/clients/run.sh runs this when NVIM_DAP names a checkout of it).
--
--   VGPU_ROOT=$PWD NVIM_DAP=/path/to/nvim-dap nvim --headless -u NONE -c 'luafile test/clients/nvim-dap.lua'
--
-- nvim-dap starts the adapter (executable, then server with `${port}`), sends every request and handles
-- every event; this file acts as the user would (a breakpoint on a line, continue, step over, step back,
-- reverse continue, the REPL's evaluate) and asserts what nvim-dap then holds (the thread it follows, its
-- current frame, the cursor) and what the adapter answers. Requests nvim-dap has no command for (data
-- breakpoints, `vgpu/*`) go through its session's request function. Exits 0 when every check passed.

local root = assert(os.getenv('VGPU_ROOT'), 'VGPU_ROOT is not set')
local nvim_dap = assert(os.getenv('NVIM_DAP'), 'NVIM_DAP (a checkout of nvim-dap) is not set')
local node = os.getenv('VGPU_NODE') or 'node'
local adapter_js = root .. '/dist/adapter.js'
local program = root .. '/examples/nested-batches.vgpu'

vim.opt.runtimepath:append(nvim_dap)
local dap = require('dap')
local Session = require('dap.session')

local passed, failed = 0, 0
local events = {}

local function log(fmt, ...)
  io.stdout:write(string.format(fmt, ...) .. '\n')
end

local function check(what, ok, detail)
  if ok then passed = passed + 1 else failed = failed + 1 end
  log('%s - %s%s', ok and 'ok' or 'FAIL', what, detail and (' (' .. detail .. ')') or '')
end

local function equal(what, expected, actual)
  check(what, vim.deep_equal(expected, actual), 'expected ' .. vim.inspect(expected) .. ', got ' .. vim.inspect(actual))
end

-- nvim-dap 0.6 starts a server adapter detached and never stops it: this run stops the ones it started.
local servers = {}
local spawn = vim.loop.spawn
vim.loop.spawn = function(cmd, opts, on_exit)
  local handle, pid = spawn(cmd, opts, on_exit)
  if handle and cmd == node and vim.tbl_contains(vim.tbl_map(function(a) return a:match('^%-%-server=') ~= nil end, opts.args or {}), true) then
    table.insert(servers, pid)
  end
  return handle, pid
end

local function finish()
  for _, pid in ipairs(servers) do vim.loop.kill(pid, 15) end
  log('nvim-dap: %d passed, %d failed', passed, failed)
  vim.cmd((failed == 0 and passed > 0) and 'qall!' or 'cquit!')
end

-- The transcript: every request nvim-dap sends and the events this run looks at.
local request = Session.request
Session.request = function(self, command, arguments, callback)
  log('  -> %s %s', command, arguments and vim.json.encode(arguments) or '')
  return request(self, command, arguments, callback)
end
for _, name in ipairs({ 'stopped', 'continued', 'terminated', 'exited' }) do
  dap.listeners.before['event_' .. name]['vgpu-test'] = function(_, body)
    table.insert(events, { name = name, body = body or {} })
    local b = body or {}
    log('  <- event %s%s', name, name == 'stopped' and string.format(' %s thread %s: %s', b.reason, b.threadId, b.description)
      or name == 'continued' and string.format(' thread %s%s', b.threadId, b.allThreadsContinued and ' (all)' or '') or '')
  end
end

local function wait(what, cond, ms)
  if not vim.wait(ms or 20000, cond, 20) then
    check(what .. ' (timed out)', false)
    finish()
    error('stopped: ' .. what)
  end
end

local function stops()
  local n = 0
  for _, e in ipairs(events) do if e.name == 'stopped' then n = n + 1 end end
  return n
end

local function last_stop()
  for i = #events, 1, -1 do if events[i].name == 'stopped' then return events[i].body end end
end

--- Runs `thunk` (an nvim-dap command that resumes the VM); waits for the stop and for nvim-dap's frame.
local function until_stop(what, thunk)
  local before = stops()
  thunk()
  wait(what, function()
    local s = dap.session()
    return stops() > before and s and s.current_frame ~= nil and s.stopped_thread_id ~= nil
  end)
  -- nvim-dap may still resume a stop it does not follow (auto_continue_if_many_stopped): let it.
  vim.wait(300, function() return false end, 20)
  return last_stop()
end

--- A request through nvim-dap's session, waited for; returns its body (or fails the check `what`).
local function req(what, command, arguments)
  local done, err, body = false, nil, nil
  dap.session():request(command, arguments, function(e, b) done, err, body = true, e, b end)
  wait(what, function() return done end)
  if err then check(what, false, err.message) end
  return body or {}
end

local function frame_line() return dap.session().current_frame and dap.session().current_frame.line end

local function register(name)
  local frame = dap.session().current_frame
  for _, scope in ipairs(req('scopes', 'scopes', { frameId = frame.id }).scopes) do
    if scope.name == 'Registers' then
      for _, v in ipairs(req('variables', 'variables', { variablesReference = scope.variablesReference }).variables) do
        if v.name == name then return v.value end
      end
    end
  end
end

-- The configuration, as a user of nvim-dap writes it.
dap.adapters.vgpu = { type = 'executable', command = node, args = { adapter_js } }
dap.adapters.vgpu_server = { type = 'server', port = '${port}', executable = { command = node, args = { adapter_js, '--server=${port}' } } }
local config = { type = 'vgpu', request = 'launch', name = 'Debug .vgpu', program = program, stopOnEntry = true }

local function run(adapter)
  log('== nvim-dap, adapter %s', adapter)
  events = {}
  vim.cmd('edit ' .. program)
  vim.bo.filetype = 'vgpu'
  vim.api.nvim_win_set_cursor(0, { 22, 0 })
  dap.set_breakpoint()
  dap.run(vim.tbl_extend('force', config, { type = adapter }))
  wait('stop on entry', function() return stops() > 0 and dap.session() and dap.session().current_frame ~= nil end)
  local session = dap.session()
  equal('stops on entry', 'entry', last_stop().reason)
  equal('nvim-dap follows the driver thread at the entry', 1, session.stopped_thread_id)

  local stop = until_stop('continue to the breakpoint', dap.continue)
  equal('continue stops at the breakpoint on rcs0', { 'breakpoint', 2 }, { stop.reason, stop.threadId })
  equal('nvim-dap follows rcs0', 2, session.stopped_thread_id)
  equal('nvim-dap shows line 22', 22, frame_line())
  equal('the cursor is on the program, line 22', { program, 22 }, { vim.api.nvim_buf_get_name(0), vim.api.nvim_win_get_cursor(0)[1] })
  local lines = {}
  for _, f in ipairs(req('stackTrace', 'stackTrace', { threadId = 2 }).stackFrames) do table.insert(lines, f.line) end
  equal('the stack: inner over main over the ring', { 22, 16, 31 }, lines)
  equal('Registers scope: CS_GPR1 written on line 21', '0x00000002', register('CS_GPR1'))

  until_stop('step over', dap.step_over)
  equal('step over the innermost batch to line 23', 23, frame_line())
  local x = req('evaluate', 'evaluate', { expression = 'x/1x results + 8', frameId = session.current_frame.id, context = 'repl' })
  check('the innermost batch wrote results + 8', (x.result or ''):find('0x00000003') ~= nil, x.result)

  check('the adapter says it can step back', session.capabilities.supportsStepBack == true)
  local before = req('vgpu/snapshots', 'vgpu/snapshots', {}).commands
  until_stop('step back', dap.step_back)
  equal('step back returns to line 22', 22, frame_line())
  local snap = req('vgpu/snapshots', 'vgpu/snapshots', {})
  check('vgpu/snapshots answers with the history position, earlier after step back',
    type(snap.commands) == 'number' and snap.commands < before and type(snap.snapshots) == 'table',
    string.format('commands %s, was %s', snap.commands, before))

  stop = until_stop('reverse continue', dap.reverse_continue)
  equal('reverse continue goes back to the start of the recorded history', 'Beginning of the recorded history', stop.description)
  equal('the VM is at t=0', 0, req('vgpu/snapshots', 'vgpu/snapshots', {}).commands)
  until_stop('continue to the breakpoint again', dap.continue)
  equal('at the breakpoint again', 22, frame_line())

  -- A data breakpoint on `results` (written by main's MI_STORE_REGISTER_MEM, line 17).
  local info = req('dataBreakpointInfo', 'dataBreakpointInfo', { name = 'results' })
  equal('dataBreakpointInfo on results', 'va:0x10f000:4', (info.dataId or ''):lower())
  local set = req('setDataBreakpoints', 'setDataBreakpoints', { breakpoints = { { dataId = info.dataId, accessType = 'write' } } })
  equal('the data breakpoint is verified', true, set.breakpoints and set.breakpoints[1] and set.breakpoints[1].verified)
  stop = until_stop('continue to the data breakpoint', dap.continue)
  equal('the data breakpoint stops', 'data breakpoint', stop.reason)
  equal('right after the write on line 17', 18, frame_line())

  -- Time travel from the REPL, and the Snapshots view's rollback: stops nvim-dap did not ask for. rcs0,
  -- the thread it follows, has a source line at t=3 and at the snapshot, so the stops stay on it and
  -- nvim-dap does not resume them (auto_continue_if_many_stopped).
  stop = until_stop('REPL goto 3', function() req('evaluate goto 3', 'evaluate', { expression = 'goto 3', context = 'repl' }) end)
  equal('goto 3 stops on rcs0, the thread nvim-dap follows', { 'goto', 2 }, { stop.reason, stop.threadId })
  equal('nvim-dap did not resume the VM: it is at t=3', 3, req('vgpu/snapshots', 'vgpu/snapshots', {}).commands)
  equal('nvim-dap shows rcs0\'s line at t=3', req('stackTrace', 'stackTrace', { threadId = 2 }).stackFrames[1].line, frame_line())
  until_stop('step over', dap.step_over)
  local snap_here = req('vgpu/snapshot', 'vgpu/snapshot', {}).snapshot
  until_stop('step over', dap.step_over)
  stop = until_stop('vgpu/rollback', function() req('vgpu/rollback', 'vgpu/rollback', { id = snap_here.id }) end)
  equal('vgpu/rollback stops on rcs0', { 'goto', 2 }, { stop.reason, stop.threadId })
  equal('nvim-dap did not resume the VM: it is at the snapshot', snap_here.commands, req('vgpu/snapshots', 'vgpu/snapshots', {}).commands)

  dap.terminate()
  wait('the session ends', function() return dap.session() == nil end)
  check('nvim-dap closed the session', session.closed == true)
  dap.clear_breakpoints()
end

local ok, err = pcall(function()
  run('vgpu')
  run('vgpu_server')
end)
if not ok and not tostring(err):find('^stopped: ') then check('no Lua error (' .. tostring(err) .. ')', false) end
finish()
