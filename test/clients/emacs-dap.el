;;; emacs-dap.el --- Emacs dap-mode, headless, against the vgpu debug adapter  -*- lexical-binding: t -*-

;; Run by test/clients/run.sh as `emacs --batch -Q -l test/clients/emacs-dap.el`.  dap-mode itself
;; starts the adapter (from a registered provider and template, through `dap-debug'), sends every
;; request and handles every event; this file only acts as the user would (adds a breakpoint, steps)
;; and asserts what dap-mode then holds (its active thread and frame) and what the adapter answers.
;; Requests dap-mode has no command for (stepBack, data breakpoints, `vgpu/*') go through dap-mode's
;; own request functions.  Environment: VGPU_ROOT (the repository), VGPU_ELPA (where dap-mode and
;; its dependencies are installed; Debian's elpa-dap-mode puts them in /usr/share/emacs/site-lisp/elpa).

(require 'cl-lib)

(defvar vgpu-root (file-name-as-directory (or (getenv "VGPU_ROOT") (error "VGPU_ROOT is not set"))))
(defvar vgpu-elpa (or (getenv "VGPU_ELPA") "/usr/share/emacs/site-lisp/elpa"))
(defvar vgpu-adapter (expand-file-name "dist/adapter.js" vgpu-root))
(defvar vgpu-program (expand-file-name "examples/nested-batches.vgpu" vgpu-root))
(defvar vgpu-node (or (getenv "VGPU_NODE") (executable-find "node")))

;; Nothing of the user's: breakpoints and lsp's session file go to a scratch directory.
(defvar vgpu-scratch (make-temp-file "vgpu-dap-mode" t))
(setq user-emacs-directory (file-name-as-directory vgpu-scratch))

(dolist (dir (directory-files vgpu-elpa t "\\`[^.]"))
  (when (file-directory-p dir) (add-to-list 'load-path dir)))

(require 'dap-mode)
(require 'dap-ui)   ; defines `dap-exception-breakpoints', which dap-mode reads when it configures a session
(setq dap-breakpoints-file (expand-file-name "breakpoints" vgpu-scratch)
      lsp-session-file (expand-file-name "lsp-session" vgpu-scratch)
      dap-auto-show-output nil
      dap-print-io nil)

;;; Transcript and assertions

(defvar vgpu-passed 0)
(defvar vgpu-failed 0)
(defvar vgpu-events nil "Every event dap-mode received, newest first: (EVENT . BODY).")

(defun vgpu-log (fmt &rest args)
  (princ (concat (apply #'format fmt args) "\n")))

(defun vgpu-check (what ok &optional detail)
  "Record the check WHAT as passed when OK; DETAIL says what was seen."
  (if ok (cl-incf vgpu-passed) (cl-incf vgpu-failed))
  (vgpu-log "%s - %s%s" (if ok "ok" "FAIL") what (if detail (format " (%s)" detail) "")))

(defun vgpu-equal (what expected actual)
  (vgpu-check what (equal expected actual) (format "expected %S, got %S" expected actual)))

(advice-add 'dap--on-event :before
            (lambda (_session event)
              (let ((name (gethash "event" event)) (body (gethash "body" event)))
                (push (cons name body) vgpu-events)
                (vgpu-log "  <- event %s%s" name
                          (pcase name
                            ("stopped" (format " %s thread %s: %s" (gethash "reason" body)
                                               (gethash "threadId" body) (gethash "description" body)))
                            ("continued" (format " thread %s%s" (gethash "threadId" body)
                                                 (if (gethash "allThreadsContinued" body) " (all)" "")))
                            ("output" (format " %S" (string-trim (gethash "output" body))))
                            (_ ""))))))

(defvar vgpu-requests nil "Every request dap-mode sent, newest first: its command.")

(advice-add 'dap--send-message :before
            (lambda (message &rest _)
              (when (equal (plist-get message :type) "request")
                (push (plist-get message :command) vgpu-requests)
                (vgpu-log "  -> %s %s" (plist-get message :command)
                          (if (plist-get message :arguments)
                              (let ((json-encoding-pretty-print nil)) (json-encode (plist-get message :arguments)))
                            "")))))

(defun vgpu-wait (what pred &optional seconds)
  "Let dap-mode read the adapter until PRED holds; fails the run after SECONDS (default 20)."
  (let ((deadline (+ (float-time) (or seconds 20))))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.02))
    (or (funcall pred)
        (progn (vgpu-check (format "%s (timed out)" what) nil) (vgpu-finish)))))

(defun vgpu-finish ()
  (vgpu-log "dap-mode: %d passed, %d failed" vgpu-passed vgpu-failed)
  (delete-directory vgpu-scratch t)
  (kill-emacs (if (and (zerop vgpu-failed) (> vgpu-passed 0)) 0 1)))

;;; What dap-mode shows

(defun vgpu-session () (dap--cur-session))
(defun vgpu-thread () (dap--debug-session-thread-id (vgpu-session)))
(defun vgpu-frame () (dap--debug-session-active-frame (vgpu-session)))
(defun vgpu-frame-line () (and (vgpu-frame) (gethash "line" (vgpu-frame))))

(defun vgpu-stops () (cl-count "stopped" vgpu-events :key #'car :test #'equal))

(defun vgpu-last-stop () (cdr (cl-find "stopped" vgpu-events :key #'car :test #'equal)))

(defun vgpu-until-stop (what thunk)
  "Run THUNK (a dap-mode command that resumes the VM), wait for the stop and for dap-mode to show its frame.
dap-mode's cache of stack frames is emptied first: it is refilled from the stop's stackTrace."
  (let ((before (vgpu-stops))
        (frames (dap--debug-session-thread-stack-frames (vgpu-session))))
    (clrhash frames)
    (funcall thunk)
    (vgpu-wait what (lambda () (and (> (vgpu-stops) before)
                                    (gethash (gethash "threadId" (vgpu-last-stop)) frames)
                                    (vgpu-frame))))
    (vgpu-last-stop)))

(defun vgpu-register (name)
  "The value dap-mode's variables requests give for the register NAME in the active frame."
  (let* ((session (vgpu-session))
         (scopes (gethash "scopes" (dap-request session "scopes" :frameId (gethash "id" (vgpu-frame)))))
         (regs (cl-find "Registers" scopes :key (lambda (s) (gethash "name" s)) :test #'equal))
         (vars (gethash "variables" (dap-request session "variables" :variablesReference (gethash "variablesReference" regs)))))
    (when-let ((v (cl-find name vars :key (lambda (x) (gethash "name" x)) :test #'equal)))
      (gethash "value" v))))

(defun vgpu-visit-line (line)
  (find-file vgpu-program)
  (goto-char (point-min))
  (forward-line (1- line)))

;;; The debug configuration, as a user of dap-mode writes it

(defun vgpu-provider (conf)
  "dap-mode's provider for :type \"vgpu\": starts the adapter over stdio, or as a server when :server is set."
  (if (plist-get conf :server)
      (let ((port (dap--find-available-port)))
        (plist-put conf :program-to-start (format "%s %s --server=%d" vgpu-node vgpu-adapter port))
        (plist-put conf :wait-for-port t)
        (plist-put conf :hostName "127.0.0.1")
        (plist-put conf :host "127.0.0.1")
        (plist-put conf :port port)
        (plist-put conf :debugServer port))
    (plist-put conf :dap-server-path (list vgpu-node vgpu-adapter)))
  (dap--plist-delete conf :server))

(dap-register-debug-provider "vgpu" #'vgpu-provider)
(dap-register-debug-template "vGPU: debug a .vgpu program"
                             (list :type "vgpu" :request "launch" :program vgpu-program :stopOnEntry t))
(dap-register-debug-template "vGPU: debug a .vgpu program (adapter as a server)"
                             (list :type "vgpu" :request "launch" :program vgpu-program :stopOnEntry t :server t))

;;; The session

(defun vgpu-run (template)
  (vgpu-log "== %s" template)
  (setq vgpu-events nil)
  (vgpu-visit-line 22)
  (dap-breakpoint-add)
  (dap-debug (copy-tree (cdr (assoc template dap-debug-template-configurations))))
  (let ((session (vgpu-session)))
    (vgpu-wait "stop on entry" (lambda () (and (> (vgpu-stops) 0) (vgpu-frame))))
    (vgpu-equal "stops on entry" "entry" (gethash "reason" (vgpu-last-stop)))
    (vgpu-equal "dap-mode follows the driver thread at the entry" 1 (vgpu-thread))
    (let ((bps (gethash vgpu-program (dap--debug-session-breakpoints session))))
      (vgpu-equal "the breakpoint dap-mode set on line 22 is verified" '(t 22)
                  (and bps (list (gethash "verified" (car bps)) (gethash "line" (car bps))))))

    (let ((stop (vgpu-until-stop "continue to the breakpoint" (lambda () (dap-continue session (vgpu-thread))))))
      (vgpu-equal "continue stops at the breakpoint on rcs0" '("breakpoint" 2)
                  (list (gethash "reason" stop) (gethash "threadId" stop))))
    (vgpu-equal "dap-mode shows line 22" 22 (vgpu-frame-line))
    (vgpu-equal "the frame's source is the program" vgpu-program
                (gethash "path" (gethash "source" (vgpu-frame))))
    (vgpu-equal "dap-mode visits the program at line 22" (list vgpu-program 22)
                (list (buffer-file-name) (line-number-at-pos)))
    (let ((frames (gethash "stackFrames" (dap-request session "stackTrace" :threadId 2))))
      (vgpu-equal "the stack: inner over main over the ring" '(22 16 31)
                  (mapcar (lambda (f) (gethash "line" f)) frames)))
    (vgpu-equal "Registers scope: CS_GPR1 written on line 21" "0x00000002" (vgpu-register "CS_GPR1"))

    (vgpu-until-stop "next" (lambda () (dap-next session)))
    (vgpu-equal "next steps over the innermost batch to line 23" 23 (vgpu-frame-line))
    (let ((hover (dap-request session "evaluate" :expression "x/1x results + 8"
                              :frameId (gethash "id" (vgpu-frame)) :context "repl")))
      (vgpu-check "the innermost batch wrote results + 8" (string-match-p "0x00000003" (gethash "result" hover))
                  (gethash "result" hover)))

    (vgpu-check "the adapter says it can step back"
                (gethash "supportsStepBack" (dap--debug-session-current-capabilities session)))
    (let ((before (gethash "commands" (dap-request session "vgpu/snapshots"))))
      ;; dap-mode has no step-back command; its step function sends any step request the same way.
      (vgpu-until-stop "stepBack" (lambda () (dap--step "stepBack" session)))
      (vgpu-equal "stepBack returns to line 22" 22 (vgpu-frame-line))
      (let ((snap (dap-request session "vgpu/snapshots")))
        (vgpu-check "vgpu/snapshots answers with the history position, earlier after stepBack"
                    (and (numberp (gethash "commands" snap)) (< (gethash "commands" snap) before)
                         (listp (gethash "snapshots" snap)))
                    (format "commands %s, was %s" (gethash "commands" snap) before))))

    (let ((stop (vgpu-until-stop "reverseContinue" (lambda () (dap--step "reverseContinue" session)))))
      (vgpu-equal "reverseContinue goes back to the start of the recorded history"
                  "Beginning of the recorded history" (gethash "description" stop)))
    (vgpu-equal "the VM is at t=0" 0 (gethash "commands" (dap-request session "vgpu/snapshots")))
    (vgpu-until-stop "continue to the breakpoint again" (lambda () (dap-continue session (vgpu-thread))))
    (vgpu-equal "at the breakpoint again" 22 (vgpu-frame-line))

    ;; A data breakpoint on `results' (written by main's MI_STORE_REGISTER_MEM, line 17).
    (let ((info (dap-request session "dataBreakpointInfo" :name "results")))
      (vgpu-equal "dataBreakpointInfo on results" "va:0x10f000:4" (downcase (or (gethash "dataId" info) "")))
      (dap-request session "setDataBreakpoints"
                   :breakpoints (vector (list :dataId (gethash "dataId" info) :accessType "write"))))
    (let ((stop (vgpu-until-stop "continue to the data breakpoint" (lambda () (dap-continue session (vgpu-thread))))))
      (vgpu-equal "the data breakpoint stops" "data breakpoint" (gethash "reason" stop)))
    (vgpu-equal "right after the write on line 17" 18 (vgpu-frame-line))

;; Time travel from the console: stops dap-mode did not ask for.  At t=3 rcs0 has a source line,
    ;; so the stop stays on it; at t=0 rcs0 has no ring yet and the stop is the driver's, after a
    ;; `continued' naming rcs0 (dap-mode drops a thread's frame only on a `continued' naming it).
    (let ((stop (vgpu-until-stop "console goto 3"
                                 (lambda () (dap-request session "evaluate" :expression "goto 3" :context "repl")))))
      (vgpu-equal "goto 3 stops on rcs0, the thread dap-mode shows" '("goto" 2)
                  (list (gethash "reason" stop) (gethash "threadId" stop))))
    (vgpu-equal "the VM is at t=3" 3 (gethash "commands" (dap-request session "vgpu/snapshots")))
    (vgpu-equal "dap-mode shows rcs0's line at t=3, not its old line 18"
                (gethash "line" (car (gethash "stackFrames" (dap-request session "stackTrace" :threadId 2))))
                (vgpu-frame-line))
    (let ((stop (vgpu-until-stop "console goto 0"
                                 (lambda () (dap-request session "evaluate" :expression "goto 0" :context "repl")))))
      (vgpu-equal "goto 0 stops on the driver thread" '("goto" 1)
                  (list (gethash "reason" stop) (gethash "threadId" stop))))
    (vgpu-equal "dap-mode follows the driver thread" 1 (vgpu-thread))
    (vgpu-equal "dap-mode shows the driver's frame, not rcs0's old one"
                (gethash "line" (car (gethash "stackFrames" (dap-request session "stackTrace" :threadId 1))))
                (vgpu-frame-line))
    (vgpu-equal "the VM is at t=0" 0 (gethash "commands" (dap-request session "vgpu/snapshots")))

    (dap-disconnect session)
    (vgpu-wait "the session ends" (lambda () (not (dap--session-running session))))
    (vgpu-check "dap-mode marks the session terminated" (eq (dap--debug-session-state session) 'terminated))
    (dap-breakpoint-delete (car (gethash vgpu-program (dap--get-breakpoints))) vgpu-program)))

(defun vgpu-run-exception (template)
  "A GPU error: dap-mode enables the adapter's exception filters and asks for the exception itself."
  (vgpu-log "== %s, on page-fault.vgpu without stopOnEntry" template)
  (setq vgpu-events nil vgpu-requests nil)
  (let ((conf (copy-tree (cdr (assoc template dap-debug-template-configurations)))))
    (plist-put conf :program (expand-file-name "examples/page-fault.vgpu" vgpu-root))
    (plist-put conf :stopOnEntry :json-false)
    (dap-debug conf))
  (let ((session (vgpu-session)))
    (vgpu-wait "the GPU error stops" (lambda () (and (> (vgpu-stops) 0) (vgpu-frame))))
    (vgpu-equal "stops on the page fault" '("exception" "GPU error: page-fault")
                (list (gethash "reason" (vgpu-last-stop)) (gethash "description" (vgpu-last-stop))))
    (vgpu-wait "dap-mode asks for the exception" (lambda () (member "exceptionInfo" vgpu-requests)))
    (let ((info (dap-request session "exceptionInfo" :threadId (vgpu-thread))))
      (vgpu-equal "exceptionInfo names the fault" "page-fault" (gethash "exceptionId" info)))
    (vgpu-check "the frame is the faulting command's line" (and (integerp (vgpu-frame-line)) (> (vgpu-frame-line) 0))
                (format "line %s" (vgpu-frame-line)))
    (dap-disconnect session)
    (vgpu-wait "the session ends" (lambda () (not (dap--session-running session))))))

(condition-case err
    (progn
      (vgpu-run "vGPU: debug a .vgpu program")
      (vgpu-run-exception "vGPU: debug a .vgpu program")
      (unless (getenv "VGPU_STDIO_ONLY") (vgpu-run "vGPU: debug a .vgpu program (adapter as a server)")))
  (error (vgpu-check (format "no Lisp error (%s)" (error-message-string err)) nil)))
(vgpu-finish)
